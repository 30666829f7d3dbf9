"""partition.py: which local days a data interval covers, and the names derived from a partition."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from psycopg import sql

from flightdeck.core.partition import Partition, local_days

NEW_YORK = "America/New_York"


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)  # pyright: ignore[reportArgumentType]


def table_name(table: sql.Identifier) -> str:
    """The unquoted table part of a schema-qualified identifier."""
    return table.as_string().split(".")[1].strip('"')


def partition(start: dt.date, end: dt.date, pipeline: str = "flights") -> Partition:
    return Partition(pipeline=pipeline, start=start, end=end, dag_id="flights_daily", run_id="scheduled__x")


@pytest.mark.parametrize(
    ("start", "end", "hours", "days"),
    [
        pytest.param(
            utc(2013, 1, 1, 5), utc(2013, 1, 2, 5), 24, (dt.date(2013, 1, 1), dt.date(2013, 1, 2)), id="jan-1"
        ),
        pytest.param(
            utc(2013, 3, 10, 5), utc(2013, 3, 11, 4), 23, (dt.date(2013, 3, 10), dt.date(2013, 3, 11)), id="spring-23h"
        ),
        pytest.param(
            utc(2013, 11, 3, 4), utc(2013, 11, 4, 5), 25, (dt.date(2013, 11, 3), dt.date(2013, 11, 4)), id="autumn-25h"
        ),
        pytest.param(
            utc(2013, 1, 1, 5), utc(2013, 2, 1, 5), 31 * 24, (dt.date(2013, 1, 1), dt.date(2013, 2, 1)), id="january"
        ),
    ],
)
def test_a_new_york_day_interval_covers_its_local_days(
    start: dt.datetime, end: dt.datetime, hours: int, days: tuple[dt.date, dt.date]
) -> None:
    assert end - start == dt.timedelta(hours=hours)
    assert local_days(start, end, NEW_YORK) == days


@pytest.mark.parametrize(
    ("day", "hours"), [(dt.date(2013, 3, 10), 23), (dt.date(2013, 11, 3), 25), (dt.date(2013, 7, 4), 24)]
)
def test_airflows_pendulum_interval_in_new_york_is_one_local_day(day: dt.date, hours: int) -> None:
    start = pendulum.datetime(day.year, day.month, day.day, tz=NEW_YORK)
    end = start.add(days=1)

    assert (end - start).in_hours() == hours
    assert local_days(start, end, NEW_YORK) == (day, day + dt.timedelta(days=1))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(utc(2013, 1, 1), utc(2013, 1, 2), id="utc-midnights"),
        pytest.param(utc(2013, 3, 10, 5), utc(2013, 3, 11, 5), id="fixed-24h-across-spring-change"),
        pytest.param(utc(2013, 11, 3, 4), utc(2013, 11, 4, 4), id="fixed-24h-across-autumn-change"),
        pytest.param(utc(2013, 1, 1, 5), utc(2013, 1, 1, 17), id="half-day"),
    ],
)
def test_an_interval_not_on_local_midnights_is_rejected_with_the_fix(start: dt.datetime, end: dt.datetime) -> None:
    with pytest.raises(ValueError, match="does not fall on local midnights in America/New_York") as raised:
        local_days(start, end, NEW_YORK)

    message = str(raised.value)
    assert start.isoformat() in message
    assert end.isoformat() in message
    assert "CronDataIntervalTimetable" in message


def test_the_same_instants_are_midnights_in_one_zone_and_not_another() -> None:
    assert local_days(utc(2013, 1, 1), utc(2013, 1, 2), "UTC") == (dt.date(2013, 1, 1), dt.date(2013, 1, 2))
    with pytest.raises(ValueError, match="America/Los_Angeles"):
        local_days(utc(2013, 1, 1), utc(2013, 1, 2), "America/Los_Angeles")


@pytest.mark.parametrize(
    ("start", "end"),
    [(dt.date(2013, 1, 1), dt.date(2013, 1, 1)), (dt.date(2013, 1, 2), dt.date(2013, 1, 1))],
    ids=["same-day", "end-before-start"],
)
def test_an_empty_partition_is_rejected(start: dt.date, end: dt.date) -> None:
    with pytest.raises(ValueError, match=f"empty partition: {start} to {end}"):
        partition(start, end)


def test_a_one_day_partition_is_labelled_by_its_day() -> None:
    day = partition(dt.date(2013, 1, 1), dt.date(2013, 1, 2))

    assert day.label == "20130101"
    assert day.key == dt.date(2013, 1, 1)


def test_a_multi_day_partition_is_labelled_by_its_bounds() -> None:
    january = partition(dt.date(2013, 1, 1), dt.date(2013, 2, 1))

    assert january.label == "20130101_20130201"
    assert january.key == dt.date(2013, 1, 1)


@pytest.mark.parametrize(
    ("start", "end", "kind", "expected"),
    [
        (dt.date(2013, 1, 1), dt.date(2013, 1, 2), "raw", ("staging", "flights_raw_p20130101")),
        (dt.date(2013, 1, 1), dt.date(2013, 1, 2), "clean", ("staging", "flights_clean_p20130101")),
        (dt.date(2013, 3, 10), dt.date(2013, 3, 11), "raw", ("staging", "flights_raw_p20130310")),
        (dt.date(2013, 1, 1), dt.date(2013, 1, 8), "raw", ("staging", "flights_raw_p20130101_20130108")),
    ],
)
def test_each_pipeline_kind_and_partition_has_its_own_staging_table(
    start: dt.date, end: dt.date, kind: str, expected: tuple[str, str]
) -> None:
    assert partition(start, end).staging_table("staging", kind) == sql.Identifier(*expected)


def test_runs_of_different_days_never_share_a_staging_table() -> None:
    days = [dt.date(2013, 1, 1) + dt.timedelta(days=n) for n in range(365)]
    names = {table_name(partition(day, day + dt.timedelta(days=1)).staging_table("staging", "raw")) for day in days}

    assert len(names) == 365


def test_staging_table_names_fit_postgres_identifiers_for_any_configurable_pipeline_name() -> None:
    pipeline = "flights_from_the_new_york_city_airports_2013"  # 44 characters: a valid config Identifier
    week = partition(dt.date(2013, 1, 1), dt.date(2013, 1, 8), pipeline=pipeline)
    month = partition(dt.date(2013, 1, 1), dt.date(2013, 2, 1), pipeline=pipeline)

    for kind in ("raw", "clean"):
        week_name = table_name(week.staging_table("staging", kind))
        month_name = table_name(month.staging_table("staging", kind))
        assert len(week_name.encode()) <= 63
        assert week_name[:63] != month_name[:63]


def test_the_log_context_names_the_run_and_its_days() -> None:
    day = Partition(
        pipeline="flights",
        start=dt.date(2013, 11, 3),
        end=dt.date(2013, 11, 4),
        dag_id="flights_daily",
        run_id="scheduled__2013-11-03T04:00:00+00:00",
    )

    assert day.log_context() == {
        "pipeline": "flights",
        "dag_id": "flights_daily",
        "run_id": "scheduled__2013-11-03T04:00:00+00:00",
        "partition": "2013-11-03",
        "partition_end": "2013-11-04",
    }
