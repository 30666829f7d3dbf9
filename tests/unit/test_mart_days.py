"""Which days the marts DAG rebuilds: from triggering asset events (their extra) and a manual run's conf."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

from flightdeck.core.errors import PermanentPipelineError
from flightdeck.marts.daily_route_performance import MalformedAssetEvent, TriggerEvent, affected_days, days_from_conf
from flightdeck_operators.assets import DIMENSIONS, FACT_FLIGHTS, WEATHER_HOURLY
from flightdeck_operators.marts import RebuildDailyRoutePerformanceOperator, days_to_rebuild

D = dt.date


def event(extra: Any, asset: str = "x-flightdeck://warehouse/core/fact_flights") -> TriggerEvent:
    return TriggerEvent(asset=asset, source="flights_daily/scheduled__2013-01-02/load", extra=extra)


def test_days_are_the_union_of_the_partitions_sorted_and_distinct() -> None:
    events = [
        event({"partition_start": "2013-01-03", "partition_end": "2013-01-04"}),
        event({"partition_start": "2013-01-01", "partition_end": "2013-01-03"}),
        event({"partition_start": "2013-01-03", "partition_end": "2013-01-04"}, asset="x-flightdeck://w/core/w"),
    ]
    assert affected_days(events) == [D(2013, 1, 1), D(2013, 1, 2), D(2013, 1, 3)]


def test_no_events_no_days() -> None:
    assert affected_days([]) == []


def test_extra_keys_besides_the_partition_are_ignored() -> None:
    extra = {"partition_start": "2013-03-10", "partition_end": "2013-03-11", "rows": 12}
    assert affected_days([event(extra)]) == [D(2013, 3, 10)]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (None, "has no partition_start or partition_end"),
        ({}, "has no partition_start or partition_end"),
        ({"partition_start": "2013-01-01"}, "has no partition_end"),
        ({"partition_start": "2013-01-01", "partition_end": "tomorrow"}, "partition_end 'tomorrow' is not a date"),
        ({"partition_start": 20130101, "partition_end": "2013-01-02"}, "partition_start 20130101 is not a date"),
        ({"partition_start": "2013-01-02", "partition_end": "2013-01-02"}, "is not after partition_start"),
        ({"partition_start": "2013-01-03", "partition_end": "2013-01-02"}, "is not after partition_start"),
        ({"partition_start": "2000-01-01", "partition_end": "2013-01-02"}, "more than 366"),
    ],
)
def test_a_malformed_extra_is_a_permanent_error_naming_the_event(extra: Any, problem: str) -> None:
    good = event({"partition_start": "2013-01-01", "partition_end": "2013-01-02"})
    with pytest.raises(MalformedAssetEvent) as raised:
        affected_days([good, event(extra)])
    message = str(raised.value)
    assert problem in message
    assert "x-flightdeck://warehouse/core/fact_flights from flights_daily/scheduled__2013-01-02/load" in message
    assert 'conf {"start"' in message  # what to do instead
    assert isinstance(raised.value, PermanentPipelineError)


def test_conf_days_are_inclusive_and_empty_values_count_as_absent() -> None:
    assert days_from_conf({"start": "2013-01-30", "end": "2013-02-01"}) == [
        D(2013, 1, 30),
        D(2013, 1, 31),
        D(2013, 2, 1),
    ]
    assert days_from_conf({"start": "2013-01-30", "end": "2013-01-30"}) == [D(2013, 1, 30)]
    assert days_from_conf({}) == []
    assert days_from_conf({"start": None, "end": None}) == []


@pytest.mark.parametrize(
    ("conf", "problem"),
    [
        ({"start": "2013-01-02", "end": "2013-01-01"}, "end 2013-01-01 is before start 2013-01-02"),
        ({"start": "2013-01-01"}, "end: Field required"),
        ({"start": "2013-01-01", "end": "2013-13-01"}, "end: Value error"),
        ({"start": 20130101, "end": "2013-01-01"}, "start: Value error, must be a date string"),
        ({"start": "2013-01-01", "end": "2013-01-01", "days": 3}, "days: Extra inputs are not permitted"),
        ({"start": "2000-01-01", "end": "2013-01-01"}, "split the backfill"),
    ],
)
def test_a_bad_conf_is_a_permanent_error_saying_what_is_expected(conf: dict[str, Any], problem: str) -> None:
    with pytest.raises(PermanentPipelineError) as raised:
        days_from_conf(conf)
    assert problem in str(raised.value)
    assert '"start": "YYYY-MM-DD"' in str(raised.value)


def reference(
    asset: Any, extra: dict[str, Any], dag_id: str | None = "flights_daily"
) -> AssetEventDagRunReferenceResult:
    return AssetEventDagRunReferenceResult.model_validate(
        {
            "asset": {"name": asset.name, "uri": asset.uri, "extra": {}},
            "extra": extra,
            "source_task_id": "load" if dag_id else None,
            "source_dag_id": dag_id,
            "source_run_id": "scheduled__2013-01-02T05:00:00+00:00" if dag_id else None,
            "source_map_index": -1 if dag_id else None,
            "source_aliases": [],
            "timestamp": dt.datetime(2013, 1, 3, tzinfo=dt.UTC),
        }
    )


def context(events: list[AssetEventDagRunReferenceResult], conf: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "triggering_asset_events": TriggeringAssetEventsAccessor.build(events),
        "dag_run": SimpleNamespace(conf=conf or {}),
    }


def test_the_operator_reads_airflows_triggering_asset_events() -> None:
    events = [
        reference(FACT_FLIGHTS, {"partition_start": "2013-01-02", "partition_end": "2013-01-03"}),
        reference(WEATHER_HOURLY, {"partition_start": "2013-01-01", "partition_end": "2013-01-02"}, "weather_hourly"),
        reference(FACT_FLIGHTS, {"partition_start": "2013-01-02", "partition_end": "2013-01-03"}),
    ]
    assert days_to_rebuild(context(events)) == [D(2013, 1, 1), D(2013, 1, 2)]
    # A manual run's conf adds its days.
    assert days_to_rebuild(context(events[:1], {"start": "2013-01-05", "end": "2013-01-05"})) == [
        D(2013, 1, 2),
        D(2013, 1, 5),
    ]


def test_an_event_created_by_hand_without_a_partition_fails_naming_it() -> None:
    with pytest.raises(
        MalformedAssetEvent, match=r"core/weather_hourly from no producing task \(created at 2013-01-03"
    ):
        days_to_rebuild(context([reference(WEATHER_HOURLY, {}, dag_id=None)]))


def test_a_run_with_neither_events_nor_conf_has_nothing_to_rebuild() -> None:
    with pytest.raises(PermanentPipelineError, match="nothing to rebuild"):
        days_to_rebuild(context([], {"start": None, "end": None}))


def test_events_that_name_no_changed_day_give_nothing_to_rebuild_and_no_error() -> None:
    # A reference drop that re-pointed no fact: its dimensions event carries null bounds.
    unchanged = reference(DIMENSIONS, {"partition_start": None, "partition_end": None}, "reference_data")

    assert days_to_rebuild(context([unchanged])) == []


def test_a_run_triggered_only_by_unchanged_dimensions_succeeds_without_touching_the_warehouse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No connection is defined in the unit tests: reaching the warehouse would fail the task.
    monkeypatch.delenv("AIRFLOW_CONN_WAREHOUSE", raising=False)
    unchanged = reference(DIMENSIONS, {"partition_start": None, "partition_end": None}, "reference_data")
    operator = RebuildDailyRoutePerformanceOperator(task_id="rebuild_daily_route_performance")

    operator.execute({**context([unchanged]), "dag": SimpleNamespace(dag_id="marts"), "run_id": "asset_triggered"})
