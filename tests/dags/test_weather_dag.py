"""weather_hourly: one run per New York day, the weather pipeline's stages in order."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest
from airflow.sdk import CronDataIntervalTimetable

from flightdeck_operators import PipelineStageOperator


@pytest.fixture
def dag(dags: dict[str, Any]) -> Any:
    return dags["weather_hourly"]


def test_weather_hourly_runs_once_per_new_york_day(dag: Any) -> None:
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert str(dag.timezone) == "America/New_York"
    assert dag.catchup is False
    assert dag.start_date == pendulum.datetime(2013, 1, 1, tz="America/New_York")
    assert "weather" in dag.tags


def test_weather_hourly_runs_the_weather_pipeline_stages_in_order(dag: Any) -> None:
    downstream = {task.task_id: sorted(task.downstream_task_ids) for task in dag.tasks}
    assert downstream == {
        "wait_for_archive": ["extract"],
        "extract": ["validate_transform"],
        "validate_transform": ["load"],
        "load": ["check"],
        "check": [],
    }
    stages = {task.task_id: task.stage_name for task in dag.tasks if isinstance(task, PipelineStageOperator)}
    assert stages == {"extract": "extract", "validate_transform": "transform", "load": "load", "check": "check"}
    for task in dag.tasks:
        assert task.pipeline_name == "weather"
        assert task.do_xcom_push is False
        assert task.retries
        assert task.retry_exponential_backoff
        assert task.owner == "data-platform"
