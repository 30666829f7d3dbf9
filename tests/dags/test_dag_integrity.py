"""DAG integrity: every DAG file imports cleanly, offline, and follows the project's conventions."""

from __future__ import annotations

from pathlib import Path

import pendulum
import pytest
from airflow._shared.module_loading.file_discovery import find_path_from_directory
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import CronDataIntervalTimetable
from airflow.serialization.encoders import coerce_to_core_timetable

from flightdeck.catalog import project_config
from flightdeck.core.paths import PROJECT_ROOT
from flightdeck_operators import PartitionReadySensor

DAGS = PROJECT_ROOT / "dags"
PLUGINS = PROJECT_ROOT / "plugins"


def test_every_dag_file_imports_without_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) >= {"flights_daily"}


def test_every_dag_has_an_owner_retries_and_tags(dagbag: DagBag) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag_id}.{task.task_id} has no owner"
            assert task.retries, f"{dag_id}.{task.task_id} does not retry"
            assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id} retries without backoff"


def test_no_dag_has_a_cycle(dagbag: DagBag) -> None:
    for dag in dagbag.dags.values():
        dag.check_cycle()  # raises on a cycle


def test_no_task_pushes_data_through_xcom(dagbag: DagBag) -> None:
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            assert not getattr(task, "do_xcom_push", True), f"{dag_id}.{task.task_id} pushes to XCom"


def test_flights_daily_runs_once_per_new_york_day_over_real_intervals(dagbag: DagBag) -> None:
    dag = dagbag.dags["flights_daily"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert str(dag.timezone) == "America/New_York"
    assert dag.catchup is False
    assert dag.start_date == pendulum.datetime(2013, 1, 1, tz="America/New_York")
    # The run for the spring-forward day covers that local day: 23 hours, not a zero-width instant.
    timetable = coerce_to_core_timetable(dag.timetable)
    interval = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2013, 3, 11, tz="America/New_York"))
    assert interval.start == pendulum.datetime(2013, 3, 10, tz="America/New_York")
    assert (interval.end - interval.start).in_hours() == 23


def test_flights_daily_stages_run_in_order(dagbag: DagBag) -> None:
    dag = dagbag.dags["flights_daily"]
    downstream = {task.task_id: sorted(task.downstream_task_ids) for task in dag.tasks}
    assert downstream == {
        "wait_for_source": ["extract"],
        "extract": ["validate_transform"],
        "validate_transform": ["load"],
        "load": ["quality_column_checks", "quality_table_checks"],
        "quality_column_checks": ["check"],
        "quality_table_checks": ["check"],
        "check": [],
    }


@pytest.mark.parametrize(
    ("dag_id", "task_id"), [("flights_daily", "wait_for_source"), ("weather_hourly", "wait_for_archive")]
)
def test_a_day_not_delivered_yet_is_a_bounded_wait_that_frees_the_worker(
    dagbag: DagBag, dag_id: str, task_id: str
) -> None:
    sensor = dagbag.dags[dag_id].get_task(task_id)
    settings = project_config().pipeline("flights") if dag_id == "flights_daily" else project_config().weather_config()

    assert isinstance(sensor, PartitionReadySensor)
    assert sensor.mode == "reschedule"
    assert (sensor.timeout, sensor.poke_interval) == (settings.wait.timeout_s, settings.wait.poke_interval_s)
    assert sensor.downstream_task_ids == {"extract"}


def test_the_plugin_loader_never_executes_the_operator_package() -> None:
    # Airflow's plugin loader imports every .py it finds under plugins/ by its bare file name.
    found = [Path(path).relative_to(PLUGINS) for path in find_path_from_directory(PLUGINS, ".airflowignore")]
    assert [path for path in found if path.suffix == ".py"] == []
