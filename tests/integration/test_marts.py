"""marts.daily_route_performance on real PostgreSQL, from days loaded by the real flights and weather stages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from flightdeck.catalog import ProjectConfig
from flightdeck.core.partition import day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.marts.daily_route_performance import rebuild_daily_route_performance
from flightdeck.sources.weather import pipeline as weather
from flightdeck_operators.assets import DAILY_ROUTE_PERFORMANCE
from flightdeck_operators.marts import RebuildDailyRoutePerformanceOperator
from tests.support import load_reference, run_flights_day, scalar, stage_context, table_checksum

DAYS = (dt.date(2013, 1, 1), dt.date(2013, 1, 2))
MART_ORDER = "flight_date, origin, dest, carrier"


@pytest.fixture
def loaded(endpoints: Endpoints, project: ProjectConfig, weather_api: int) -> Endpoints:
    """Two days of flights and of weather, loaded through the pipelines' own stages."""
    for day in DAYS:
        flights = day_partition("flights", day)
        load_reference(endpoints.warehouse, project)
        run_flights_day(endpoints, project, flights)
        hours = day_partition("weather", day)
        for wstage in (weather.extract, weather.transform, weather.load, weather.check):
            wstage(stage_context(project, hours, endpoints.warehouse))
    return endpoints


def mart_rows(wh: Any, day: str) -> int:
    return int(scalar(wh, "SELECT count(*) FROM marts.daily_route_performance WHERE flight_date = %s", (day,)))


def test_a_day_is_rebuilt_from_the_fact_with_the_weather_at_departure(loaded: Endpoints) -> None:
    wh = loaded.warehouse
    written = rebuild_daily_route_performance(wh, [dt.date(2013, 1, 2)], run_id="first")

    routes = scalar(
        wh, "SELECT count(DISTINCT (origin, dest, carrier)) FROM core.fact_flights WHERE flight_date = '2013-01-02'"
    )
    assert written == routes == mart_rows(wh, "2013-01-02") > 100
    assert mart_rows(wh, "2013-01-01") == 0  # only the day asked for
    totals = scalar(
        wh,
        "SELECT row(sum(flights), sum(cancelled))::text FROM marts.daily_route_performance",
    )
    direct = scalar(
        wh,
        "SELECT row(count(*), count(*) FILTER (WHERE is_cancelled))::text FROM core.fact_flights "
        "WHERE flight_date = '2013-01-02'",
    )
    assert totals == direct
    assert scalar(wh, "SELECT sum(cancelled) FROM marts.daily_route_performance") > 0
    # Every route's counts and on-time share agree with a direct count on the fact table.
    mismatches = scalar(
        wh,
        """
        SELECT count(*) FROM marts.daily_route_performance m
        FULL JOIN (
            SELECT flight_date, origin, dest, carrier, count(*) AS flights,
                   count(*) FILTER (WHERE is_cancelled) AS cancelled,
                   count(*) FILTER (WHERE status = 'completed' AND arr_delay_min <= 15)::float
                   / nullif(count(*) FILTER (WHERE status = 'completed' AND arr_delay_min IS NOT NULL), 0) AS share,
                   max(dep_delay_min) AS dep_max
            FROM core.fact_flights WHERE flight_date = '2013-01-02' GROUP BY 1, 2, 3, 4
        ) d USING (flight_date, origin, dest, carrier)
        WHERE m.flights IS DISTINCT FROM d.flights OR m.cancelled IS DISTINCT FROM d.cancelled
           OR abs(coalesce(m.on_time_share, -1) - coalesce(d.share, -1)) > 1e-9
           OR m.dep_delay_p90_min > d.dep_max
        """,
    )
    assert mismatches == 0
    # One concrete route, by hand: JFK -> LAX on AA.
    route = scalar(
        wh,
        "SELECT row(flights, round(on_time_share::numeric, 6), round(dep_delay_p90_min::numeric, 6))::text "
        "FROM marts.daily_route_performance WHERE origin = 'JFK' AND dest = 'LAX' AND carrier = 'AA'",
    )
    expected = scalar(
        wh,
        "SELECT row(count(*), round((count(*) FILTER (WHERE arr_delay_min <= 15))::numeric "
        "/ count(*) FILTER (WHERE status = 'completed' AND arr_delay_min IS NOT NULL), 6), "
        "round((percentile_cont(0.9) WITHIN GROUP (ORDER BY dep_delay_min))::numeric, 6))::text "
        "FROM core.fact_flights WHERE flight_date = '2013-01-02' AND origin = 'JFK' AND dest = 'LAX' "
        "AND carrier = 'AA' AND status IN ('completed', 'diverted', 'cancelled')",
    )
    assert route == expected
    # Weather at the origin at the scheduled departure hour is joined.
    joined = scalar(
        wh,
        "SELECT count(*) FROM core.fact_flights f JOIN core.weather_hourly w "
        "ON w.origin = f.origin AND w.obs_hour = date_trunc('hour', f.sched_dep_ts, 'UTC') "
        "WHERE f.flight_date = '2013-01-02'",
    )
    assert scalar(wh, "SELECT sum(with_weather) FROM marts.daily_route_performance") == joined > 0
    temp = scalar(
        wh,
        "SELECT round(temp_mean_f::numeric, 6) FROM marts.daily_route_performance "
        "WHERE origin = 'JFK' AND dest = 'LAX' AND carrier = 'AA'",
    )
    direct_temp = scalar(
        wh,
        "SELECT round(avg(w.temp_f)::numeric, 6) FROM core.fact_flights f JOIN core.weather_hourly w "
        "ON w.origin = f.origin AND w.obs_hour = date_trunc('hour', f.sched_dep_ts, 'UTC') "
        "WHERE f.flight_date = '2013-01-02' AND f.origin = 'JFK' AND f.dest = 'LAX' AND f.carrier = 'AA'",
    )
    assert temp == direct_temp is not None
    # The DDL is recorded in the migrations ledger like every other file.
    assert scalar(wh, "SELECT count(*) FROM audit.schema_migrations WHERE filename = 'marts.sql'") == 1


def test_a_rebuild_touches_only_its_days_and_a_rerun_is_identical(loaded: Endpoints) -> None:
    wh = loaded.warehouse
    rebuild_daily_route_performance(wh, list(DAYS), run_id="both")
    before = table_checksum(wh, "marts.daily_route_performance", MART_ORDER)

    again = rebuild_daily_route_performance(wh, [dt.date(2013, 1, 2), dt.date(2013, 1, 2)], run_id="rerun")

    assert again == mart_rows(wh, "2013-01-02")
    assert table_checksum(wh, "marts.daily_route_performance", MART_ORDER) == before
    runs = scalar(
        wh, "SELECT string_agg(DISTINCT flight_date || ':' || run_id, ',') FROM marts.daily_route_performance"
    )
    assert runs == "2013-01-01:both,2013-01-02:rerun"
    # A day without flights ends with no rows, not with stale ones.
    assert rebuild_daily_route_performance(wh, [dt.date(2013, 1, 3)]) == 0
    assert rebuild_daily_route_performance(wh, []) == 0
    assert table_checksum(wh, "marts.daily_route_performance", MART_ORDER) == before


def test_the_operator_rebuilds_the_conf_days_and_emits_the_mart_asset(
    loaded: Endpoints, airflow_connections: Endpoints
) -> None:
    task = RebuildDailyRoutePerformanceOperator(task_id="rebuild", asset=DAILY_ROUTE_PERFORMANCE)
    outlet_events: dict[Asset, Any] = {DAILY_ROUTE_PERFORMANCE: type("Event", (), {"extra": {}})()}
    dag = type("Dag", (), {"dag_id": "marts"})()
    run = type("Run", (), {"conf": {"start": "2013-01-01", "end": "2013-01-01"}})()
    context = {"dag_run": run, "dag": dag, "run_id": "manual__x", "triggering_asset_events": {}}

    task.execute({**context, "outlet_events": outlet_events})

    assert mart_rows(loaded.warehouse, "2013-01-01") > 0
    assert mart_rows(loaded.warehouse, "2013-01-02") == 0
    assert outlet_events[DAILY_ROUTE_PERFORMANCE].extra == {"days": ["2013-01-01"]}
    bad = {**context, "dag_run": type("Run", (), {"conf": {"start": "2013-01-02", "end": "2013-01-01"}})()}
    with pytest.raises(AirflowFailException, match="end 2013-01-01 is before start 2013-01-02"):
        task.execute({**bad, "outlet_events": outlet_events})
