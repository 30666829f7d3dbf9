"""reference_data: one task per configured file of the drop, then the fact-key resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import CronDataIntervalTimetable

from flightdeck.catalog import project_config
from flightdeck.core.config import ConfigError
from flightdeck.core.paths import PROJECT_ROOT
from flightdeck_operators import PipelineStageOperator


@pytest.fixture
def dag(dags: dict[str, Any]) -> Any:
    return dags["reference_data"]


def test_each_configured_file_has_its_own_load_task_before_the_key_resolution(dag: Any) -> None:
    files = list(project_config().reference.files)
    assert files == ["airlines", "airports", "planes"]
    downstream = {task.task_id: sorted(task.downstream_task_ids) for task in dag.tasks}
    assert downstream == {
        "load_airlines": ["resolve_fact_keys"],
        # airportsdata's airports are merged after the drop's (the merge compares both sources)...
        "load_airports": ["load_world_airports"],
        # ... and before the fact keys point flights at the dimension.
        "load_world_airports": ["resolve_fact_keys"],
        "load_planes": ["resolve_fact_keys"],
        "resolve_fact_keys": [],
    }
    for name in files:
        task = dag.get_task(f"load_{name}")
        assert isinstance(task, PipelineStageOperator)
        assert task.stage_name == "load"
        # Failures are audited under the file's own pipeline name.
        assert task.pipeline_name == f"reference.{name}"
    world = dag.get_task("load_world_airports")
    assert isinstance(world, PipelineStageOperator)
    assert (world.pipeline_name, world.stage_name) == ("world_airports", "load")
    resolve = dag.get_task("resolve_fact_keys")
    assert isinstance(resolve, PipelineStageOperator)
    assert (resolve.pipeline_name, resolve.stage_name) == ("reference.fact_keys", "resolve")


def test_without_a_world_airports_section_the_drop_alone_feeds_the_key_resolution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = yaml.safe_load((PROJECT_ROOT / "config" / "pipelines.yaml").read_text(encoding="utf-8"))
    del data["world_airports"]
    config = tmp_path / "pipelines.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("FLIGHTDECK_CONFIG", str(config))
    project_config.cache_clear()
    try:
        bag = DagBag(dag_folder=PROJECT_ROOT / "dags" / "reference_data.py")
        assert bag.import_errors == {}
        downstream = {task.task_id: sorted(task.downstream_task_ids) for task in bag.dags["reference_data"].tasks}
    finally:
        project_config.cache_clear()
    assert downstream == {
        "load_airlines": ["resolve_fact_keys"],
        "load_airports": ["resolve_fact_keys"],
        "load_planes": ["resolve_fact_keys"],
        "resolve_fact_keys": [],
    }


def test_reference_data_runs_one_new_york_day_at_a_time(dag: Any) -> None:
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert str(dag.timezone) == "America/New_York"
    assert dag.start_date == pendulum.datetime(2013, 1, 1, tz="America/New_York")
    assert dag.catchup is False
    # Type-2 history moves forward one drop at a time: never two runs at once.
    assert dag.max_active_runs == 1
    assert "reference" in dag.tags


def test_an_unknown_file_name_fails_when_the_dag_is_defined() -> None:
    with pytest.raises(ConfigError, match=r"no pipeline 'reference.routes'.*reference.airlines, reference.airports"):
        PipelineStageOperator(task_id="load_routes", pipeline="reference.routes", stage="load")
