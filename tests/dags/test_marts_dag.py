"""marts: scheduled on the warehouse assets that flights_daily, weather_hourly and reference_data emit."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import Asset, AssetAny

from flightdeck_operators.assets import (
    DAILY_ROUTE_PERFORMANCE,
    DIMENSIONS,
    FACT_FLIGHTS,
    MART_INPUTS,
    WEATHER_HOURLY,
)
from flightdeck_operators.marts import RebuildDailyRoutePerformanceOperator


def test_the_asset_uris_are_accepted_and_stable() -> None:
    assert FACT_FLIGHTS.uri == "x-flightdeck://warehouse/core/fact_flights"
    assert WEATHER_HOURLY.uri == "x-flightdeck://warehouse/core/weather_hourly"
    assert DAILY_ROUTE_PERFORMANCE.uri == "x-flightdeck://warehouse/marts/daily_route_performance"
    assert FACT_FLIGHTS.name == "core.fact_flights"
    assert DIMENSIONS.uri == "x-flightdeck://warehouse/core/dimensions"
    assert MART_INPUTS == (FACT_FLIGHTS, WEATHER_HOURLY, DIMENSIONS)
    # Airflow's normaliser leaves them as they are (a postgres:// URI would need host, port and database).
    assert Asset(FACT_FLIGHTS.uri).uri == FACT_FLIGHTS.uri


def test_marts_runs_when_any_of_the_input_assets_is_updated(dags: dict[str, Any]) -> None:
    dag = dags["marts"]
    condition = dag.timetable.asset_condition
    assert isinstance(condition, AssetAny)
    assert list(condition.objects) == [FACT_FLIGHTS, WEATHER_HOURLY, DIMENSIONS]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert "marts" in dag.tags
    assert set(dag.params.keys()) == {"start", "end"}


def test_marts_is_one_thin_task_with_the_project_conventions(dags: dict[str, Any]) -> None:
    dag = dags["marts"]
    assert [task.task_id for task in dag.tasks] == ["rebuild_daily_route_performance"]
    task = dag.tasks[0]
    assert isinstance(task, RebuildDailyRoutePerformanceOperator)
    assert task.owner == "data-platform"
    assert task.retries == 3
    assert task.retry_exponential_backoff
    assert task.do_xcom_push is False
    assert task.on_failure_callback
    assert task.on_retry_callback
    assert task.outlets == [DAILY_ROUTE_PERFORMANCE]


@pytest.mark.parametrize(("dag_id", "asset"), [("flights_daily", FACT_FLIGHTS), ("weather_hourly", WEATHER_HOURLY)])
def test_only_the_load_task_of_each_producer_emits_its_asset(dags: dict[str, Any], dag_id: str, asset: Asset) -> None:
    outlets = {task.task_id: list(task.outlets) for task in dags[dag_id].tasks}
    assert outlets.pop("load") == [asset]
    assert all(not found for found in outlets.values()), outlets
    assert dags[dag_id].get_task("load").outlet_asset == asset


def test_every_mart_input_has_a_producer(dags: dict[str, Any]) -> None:
    produced = {outlet for dag in dags.values() for task in dag.tasks for outlet in task.outlets}
    assert set(MART_INPUTS) <= produced


def test_reference_data_emits_the_dimensions_asset_from_its_last_task_only(dags: dict[str, Any]) -> None:
    outlets = {task.task_id: list(task.outlets) for task in dags["reference_data"].tasks}
    assert outlets.pop("resolve_fact_keys") == [DIMENSIONS]
    assert all(not found for found in outlets.values()), outlets
