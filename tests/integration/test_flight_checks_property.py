"""core/sqlchecks.py, sources/flights/checks.py: the SQL checks accept exactly what the Pydantic models accept.

Hypothesis generates flights: mostly consistent ones (any day, the days clocks change, 2400 clock
times, cancellations and diversions, boundary delays and speeds), then breaks one to three values
(nulls, boundaries, out-of-range numbers, bad or odd-Unicode codes, shifted instants). PostgreSQL
evaluates the checks' verdict on a temporary table with the staging tables' column types; each row,
read back exactly as the transform reads it, is validated by the model itself. Every verdict must agree.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, LiteralString
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ValidationError

from flightdeck.core.rules import SQL_COUNTERPARTS
from flightdeck.core.sqlchecks import ModelChecks, columns_of
from flightdeck.core.staging import copy_records
from flightdeck.sources.flights.checks import FACT_CHECKS, SOURCE_CHECKS
from flightdeck.sources.flights.extract import SOURCE_COLUMNS
from flightdeck.sources.flights.facts import ReferenceLookup, to_fact, zone
from flightdeck.sources.flights.schemas import SourceFlight
from flightdeck.sources.flights.transform import fact_staging_columns
from flightdeck.warehouse.types import hhmm_to_minutes
from tests.conftest import PgServer
from tests.support import hhmm

Row = dict[str, Any]
Conn = psycopg.Connection[tuple[object, ...]]

INT4 = (-(2**31), 2**31 - 1)
ZONES = (
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",
    "Europe/London",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "UTC",
)
SQL_INJECTION = "'); DROP TABLE core.fact_flights; --"
ODD_CODES = (
    "",
    "A",
    "ua",
    "UA\n",
    " UA",
    "UA ",
    "U A",
    "ÄBC",
    "\uff21\uff22\uff23",  # full-width ABC
    "N\uff11\uff12\uff13\u2708",  # full-width digits and a plane
    "A\u0301BC",  # a combining accent
    "EWR\u200b",  # a zero-width space
    "\u0130\u0131X",
    "ABCDEFG",
    "N123456",
    "UNKNOWN",
    SQL_INJECTION,
)
EDGE_INTS = (
    *INT4,
    -2400,
    -1440,
    -241,
    -240,
    -121,
    -120,
    -100,
    -99,
    -60,
    -59,
    -41,
    -40,
    -1,
    0,
    1,
    2,
    12,
    13,
    23,
    24,
    28,
    29,
    30,
    31,
    32,
    59,
    60,
    99,
    100,
    159,
    160,
    1200,
    1201,
    1439,
    1440,
    2012,
    2013,
    2359,
    2360,
    2399,
    2400,
    2401,
    2459,
    2460,
    2500,
    9999,
    10000,
    10001,
)
# The fields broken values are drawn for: the source columns the pipeline reads as integer, and as text.
INT_FIELDS = tuple(name for name, pg_type in SOURCE_COLUMNS if pg_type == "integer")
CODE_FIELDS = tuple(name for name, pg_type in SOURCE_COLUMNS if pg_type == "text")


def _offset_change_days(name: str) -> list[dt.date]:
    """Days on which the zone's UTC offset changes (2012-2014), and the days either side."""
    tz = ZoneInfo(name)
    found: list[dt.date] = []
    day = dt.date(2012, 1, 1)
    while day < dt.date(2015, 1, 1):
        start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
        if start.utcoffset() != end.utcoffset():
            found += [day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)]
        day += dt.timedelta(days=1)
    return found or [dt.date(2013, 1, 1)]


CHANGE_DAYS = {name: _offset_change_days(name) for name in ZONES}


def on_the_hour(row: Row, column: str) -> None:
    """Move a consistent flight's clock time back to the whole hour, adjusting its delay to match."""
    prefix = column.removeprefix("sched_")[:3]
    value, delay = row[column], row[f"{prefix}_delay"]
    if not isinstance(value, int) or not isinstance(delay, int) or not 0 <= value <= 2400:
        return
    minutes = value % 100
    row[column] = value - minutes
    row[f"{prefix}_delay"] = delay + minutes if column.startswith("sched_") else delay - minutes


def unnormalised(value: int | None) -> int | None:
    """HHMM with the hour borrowed into the minutes (1100 -> 1060, 2400 -> 2360); else unchanged."""
    if value is None or value < 100 or value % 100 > 39:
        return value
    return value - 100 + 60


def clock(minutes: int, midnight_as_2400: bool) -> int:
    value = hhmm(minutes % 1440)
    return 2400 if value == 0 and midnight_as_2400 else value


# --- generated source flights ------------------------------------------------------------------------


ON_THE_HOUR = st.integers(0, 23).map(lambda hour: hour * 60)


@st.composite
def consistent_flight(draw: st.DrawFn, tz_name: str) -> Row:
    """A flight that follows every rule, except where the wall time of time_hour does not exist."""
    tz = ZoneInfo(tz_name)
    day = draw(
        st.one_of(
            st.sampled_from(CHANGE_DAYS[tz_name]),
            st.dates(dt.date(2013, 1, 1), dt.date(2013, 12, 31)),
            st.dates(dt.date(1970, 1, 1), dt.date(2037, 12, 31)),
        )
    )
    sched_dep = draw(st.one_of(st.integers(0, 1439), st.integers(0, 240), ON_THE_HOUR, st.sampled_from([59, 1439])))
    hour, minute = divmod(sched_dep, 60)
    fold = draw(st.integers(0, 1))
    time_hour = dt.datetime(day.year, day.month, day.day, hour, tzinfo=tz, fold=fold).astimezone(dt.UTC)
    sched_arr = draw(st.one_of(st.integers(0, 1439), ON_THE_HOUR))
    distance = draw(st.one_of(st.integers(1, 10_000), st.sampled_from([1, 17, 50, 700, 701, 1400, 4983, 10_000])))
    row: Row = {
        "flight_id": draw(st.integers(1, 2**63 - 1)),
        "year": day.year,
        "month": day.month,
        "day": day.day,
        "dep_time": None,
        "sched_dep_time": hhmm(sched_dep),
        "dep_delay": None,
        "arr_time": None,
        "sched_arr_time": hhmm(sched_arr),
        "arr_delay": None,
        "carrier": draw(st.sampled_from(["UA", "AA", "9E", "B6", "EV"])),
        "flight": draw(st.integers(1, 9999)),
        "tailnum": draw(st.one_of(st.none(), st.from_regex(r"\A[A-Z0-9]{2,6}\Z"))),
        "origin": draw(st.sampled_from(["EWR", "JFK", "LGA"])),
        "dest": draw(st.sampled_from(["ORD", "LAX", "ATL", "SJU", "HNL"])),
        "air_time": None,
        "distance": distance,
        "hour": hour,
        "minute": minute,
        "time_hour": time_hour,
    }
    if draw(st.integers(0, 9)) == 0:
        return row  # cancelled
    dep_delay = draw(st.one_of(st.integers(-120, 1439), st.sampled_from([-120, -1, 0, 1, 60, 1439, 1440 - sched_dep])))
    row["dep_delay"] = dep_delay
    row["dep_time"] = clock(sched_dep + dep_delay, draw(st.booleans()))
    if draw(st.integers(0, 9)) > 0:
        arr_delay = draw(st.one_of(st.integers(-240, 1439), st.sampled_from([-240, 0, 60, 1439, 1440 - sched_arr])))
        row["arr_delay"] = arr_delay
        row["arr_time"] = clock(sched_arr + arr_delay, draw(st.booleans()))
    elif draw(st.booleans()):
        row["arr_time"] = clock(draw(st.integers(0, 1439)), draw(st.booleans()))  # diverted: arrived elsewhere
    if row["arr_time"] is not None or draw(st.booleans()):
        fastest, slowest = max(1, -(-distance * 60 // 700)), min(1200, distance * 60 // 50)
        if fastest <= slowest:
            row["air_time"] = draw(st.one_of(st.integers(fastest, slowest), st.sampled_from([fastest, slowest])))
    return row


BROKEN_INT = st.one_of(st.none(), st.sampled_from(EDGE_INTS), st.integers(*INT4))
ODD_CODE = st.one_of(
    st.none(),
    st.sampled_from(ODD_CODES),
    st.from_regex(r"\A[A-Z0-9]{1,7}\Z"),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8),
)


def mutation(tz_name: str) -> st.SearchStrategy[tuple[str, Any]]:
    """One change to a row: (field, new value); some fields get values derived from the row later."""
    tz = ZoneInfo(tz_name)
    return st.one_of(
        st.tuples(st.sampled_from(INT_FIELDS), BROKEN_INT),
        st.tuples(st.sampled_from(CODE_FIELDS), ODD_CODE),
        st.tuples(
            st.just("time_hour"),
            st.one_of(
                st.none(),
                st.datetimes(
                    dt.datetime(1901, 1, 1), dt.datetime(2099, 12, 31), timezones=st.sampled_from([dt.UTC, tz])
                ),
            ),
        ),
        st.tuples(
            st.just("time_hour+"),
            st.sampled_from(
                [
                    dt.timedelta(hours=1),
                    dt.timedelta(hours=-1),
                    dt.timedelta(minutes=30),
                    dt.timedelta(microseconds=1),
                    dt.timedelta(microseconds=-1),
                    dt.timedelta(days=1),
                    dt.timedelta(days=-1),
                ]
            ),
        ),
        st.tuples(st.just("dest=origin"), st.none()),
        # A clock time written with 60 or more minutes: the same minute of the day, but not HHMM.
        st.tuples(st.sampled_from(["dep_time~", "arr_time~", "sched_arr_time~"]), st.none()),
        # A delay at or past its bounds, with the clock time it implies (so only the bound is broken).
        st.tuples(st.just("dep_delay="), st.sampled_from([-121, -120, 1439, 1440, -1440])),
        st.tuples(st.just("arr_delay="), st.sampled_from([-241, -240, 1439, 1440, -1440])),
        st.tuples(st.just("flight_id"), st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))),
        # Rule by rule: one value of a pair missing; a cancelled flight keeping one measure; the scheduled
        # hour or minute off by one.
        st.tuples(st.just("unpair"), st.sampled_from(["dep_time", "dep_delay"])),
        st.tuples(st.just("air_time speed"), st.sampled_from([700.0, 50.0])),
        st.tuples(st.just("cancel keeping"), st.sampled_from(["arr_time", "arr_delay", "air_time"])),
        st.tuples(st.sampled_from(["hour+", "minute+"]), st.sampled_from([-1, 1, 60, -60])),
    )


# Built once: building strategies for every drawn row would take most of the test's time.
CONSISTENT = {name: consistent_flight(name) for name in ZONES}
# Most rows get one change at most, so that the rule it breaks is the only one broken.
MUTATIONS = {
    name: st.one_of(st.lists(mutation(name), max_size=1), st.lists(mutation(name), max_size=3)) for name in ZONES
}


@st.composite
def source_batch(draw: st.DrawFn) -> tuple[str, list[Row]]:
    tz_name = draw(st.one_of(st.just("America/New_York"), st.sampled_from(ZONES)))
    rows: list[Row] = []
    for _ in range(draw(st.integers(1, 30))):
        row = draw(CONSISTENT[tz_name])
        for name, value in draw(MUTATIONS[tz_name]):
            if name == "time_hour+":
                if row["time_hour"] is not None:
                    row["time_hour"] = row["time_hour"] + value
            elif name == "dest=origin":
                row["dest"] = row["origin"]
            elif name == "air_time speed":
                # The air time whose speed is just past the bound (too fast or too slow).
                if isinstance(row["distance"], int) and row["distance"] > 0 and row["air_time"] is not None:
                    bound = row["distance"] * 60 / value
                    row["air_time"] = max(1, math.ceil(bound) - 1) if value == 700.0 else math.floor(bound) + 1
            elif name == "unpair":
                row[value] = None
            elif name == "cancel keeping":
                kept = row[value]
                row.update(dep_time=None, dep_delay=None, arr_time=None, arr_delay=None, air_time=None)
                row[value] = kept if kept is not None else 100
            elif name in ("hour+", "minute+"):
                if isinstance(row[name[:-1]], int):
                    row[name[:-1]] += value
            elif name.endswith("~"):
                on_the_hour(row, name[:-1])
                row[name[:-1]] = unnormalised(row[name[:-1]])
            elif name.endswith("="):
                prefix = name[:3]
                scheduled = row[f"sched_{prefix}_time"]
                if isinstance(scheduled, int) and row[f"{prefix}_time"] is not None:
                    row[f"{prefix}_delay"] = value
                    row[f"{prefix}_time"] = clock(hhmm_to_minutes(scheduled) + value, False)
            else:
                row[name] = value
        rows.append(row)
    return tz_name, rows


# --- generated fact rows -----------------------------------------------------------------------------

REFS = ReferenceLookup(
    airports={
        "EWR": (1, "America/New_York"),
        "JFK": (2, "America/New_York"),
        "LGA": (3, "America/New_York"),
        "ORD": (4, "America/Chicago"),
        "LAX": (5, "America/Los_Angeles"),
        "HNL": (6, "Pacific/Honolulu"),
        "ATL": (7, ""),
    },
    carriers={"UA": 1, "AA": 2, "B6": 3},
    aircraft={"N14228": 1},
)
FACT_MUTATIONS: dict[str, st.SearchStrategy[Any]] = {
    "status": st.sampled_from(["completed", "diverted", "cancelled", "lost", "", "Cancelled", None]),
    "is_cancelled": st.one_of(st.none(), st.booleans()),
    "flight_date": st.one_of(st.none(), st.dates(dt.date(2012, 12, 30), dt.date(2014, 1, 2))),
    "dep_ts": st.one_of(st.none(), st.datetimes(dt.datetime(2012, 12, 30), timezones=st.just(dt.UTC))),
    "arr_local": st.one_of(st.none(), st.datetimes(dt.datetime(2012, 12, 30), dt.datetime(2014, 1, 3))),
    "dep_local": st.one_of(st.none(), st.datetimes(dt.datetime(2012, 12, 30), dt.datetime(2014, 1, 3))),
    "dep_delay_min": st.one_of(BROKEN_INT, st.integers(-120, 1439)),
    "arr_delay_min": st.one_of(BROKEN_INT, st.integers(-240, 1439)),
    "air_time_min": st.one_of(BROKEN_INT, st.integers(1, 1200)),
    "distance_mi": BROKEN_INT,
    "flight": BROKEN_INT,
    "origin_airport_key": BROKEN_INT,
    "source_flight_id": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    "carrier": st.one_of(st.none(), st.sampled_from(ODD_CODES)),
    "tailnum": st.one_of(st.none(), st.sampled_from(ODD_CODES)),
    "origin": st.one_of(st.none(), st.sampled_from(ODD_CODES)),
    "sched_dep_ts": st.one_of(st.none(), st.datetimes(dt.datetime(2012, 12, 30), timezones=st.just(dt.UTC))),
}
FACT_SHIFTS: dict[str, tuple[str, Sequence[dt.timedelta]]] = {
    # column: (column it is set relative to, offsets)
    "arr_ts": ("dep_ts", [dt.timedelta(0), dt.timedelta(microseconds=1), dt.timedelta(microseconds=-1)]),
    "sched_arr_local": (
        "sched_dep_local",
        [dt.timedelta(hours=-12), dt.timedelta(hours=-12, microseconds=1), dt.timedelta(hours=-13)],
    ),
    "sched_dep_local": ("sched_dep_local", [dt.timedelta(days=1), dt.timedelta(microseconds=-1)]),
}


MEASURES = ("dep_ts", "dep_local", "arr_local", "arr_ts", "dep_delay_min", "arr_delay_min", "air_time_min")
PLAUSIBLE: dict[str, object] = {
    "dep_ts": dt.datetime(2013, 1, 1, 12, tzinfo=dt.UTC),
    "dep_local": dt.datetime(2013, 1, 1, 7),
    "arr_local": dt.datetime(2013, 1, 1, 9),
    "arr_ts": dt.datetime(2013, 1, 1, 14, tzinfo=dt.UTC),
    "dep_delay_min": 0,
    "arr_delay_min": 0,
    "air_time_min": 100,
}


@st.composite
def fact_batch(draw: st.DrawFn) -> list[Row]:
    facts: list[Row] = []
    for _ in range(draw(st.integers(1, 30))):
        while True:
            try:
                source = SourceFlight.model_validate(draw(CONSISTENT["America/New_York"]))
                break
            except ValidationError:
                continue  # a wall time in the spring gap: not a valid flight
        fact = to_fact(source, REFS, zone("America/New_York"))
        for _ in range(draw(st.integers(0, 3))):
            name = draw(
                st.sampled_from(sorted([*FACT_MUTATIONS, *FACT_SHIFTS, "cancel", "cancel keeping one", "uncancel"]))
            )
            if name == "cancel":  # the flags say cancelled, the measures stay
                fact.update(status="cancelled", is_cancelled=True)
            elif name == "cancel keeping one":  # cancelled, and one measure only
                kept = draw(st.sampled_from(MEASURES))
                value = fact[kept] if fact[kept] is not None else PLAUSIBLE[kept]
                fact.update(dict.fromkeys(MEASURES), status="cancelled", is_cancelled=True)
                fact[kept] = value
            elif name == "uncancel":
                fact.update(status=draw(st.sampled_from(["completed", "diverted"])), is_cancelled=False)
            elif name in FACT_SHIFTS:
                base, shifts = FACT_SHIFTS[name]
                if fact[base] is not None:
                    fact[name] = fact[base] + draw(st.sampled_from(shifts))
            else:
                fact[name] = draw(FACT_MUTATIONS[name])
        facts.append(fact)
    return facts


# --- evaluation ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg(pg_server: PgServer) -> Iterator[Conn]:
    """A session on the test server; the rows go to temporary tables only."""
    with pg_server.admin_connect() as conn:
        conn.execute("SET jit = off")
        yield conn


def verdicts(
    conn: Conn,
    checks: ModelChecks,
    columns: Sequence[tuple[str, LiteralString]],
    rows: Sequence[Row],
    params: Mapping[str, object],
) -> list[tuple[bool, Row]]:
    """(the SQL verdict, the row as read back from PostgreSQL) for each row, in order."""
    table = sql.Identifier("pg_temp", "checked_rows")
    definitions = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type)) for name, pg_type in columns
    )
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (seq integer, {})").format(table, definitions))
    names = [name for name, _ in columns]
    copy_records(conn, table, ["seq", *names], [{"seq": seq, **row} for seq, row in enumerate(rows)])
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("SELECT {} AS checked_ok, {} FROM {} r ORDER BY seq").format(
                checks.verdict(columns_of("r")), sql.SQL(", ").join(sql.Identifier("r", n) for n in names), table
            ),
            params,
        )
        found = cur.fetchall()
    return [(bool(row.pop("checked_ok")), row) for row in found]


def accepts(model: type[BaseModel], row: Row, context: Mapping[str, object] | None = None) -> bool:
    try:
        model.model_validate(row, context=dict(context or {}))
    except ValidationError:
        return False
    return True


def assert_agree(checks: ModelChecks, results: list[tuple[bool, Row]], context: Mapping[str, object]) -> None:
    for sql_ok, row in results:
        model_ok = accepts(checks.model, row, context)
        assert sql_ok == model_ok, (
            f"SQL {'accepts' if sql_ok else 'rejects'} but {checks.model.__name__} "
            f"{'accepts' if model_ok else 'rejects'} {row} (context {dict(context)})"
        )


# --- the properties ---------------------------------------------------------------------------------


@given(batch=source_batch())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_the_source_checks_accept_exactly_what_source_flight_accepts(pg: Conn, batch: tuple[str, list[Row]]) -> None:
    tz_name, rows = batch
    results = verdicts(pg, SOURCE_CHECKS, SOURCE_COLUMNS, rows, SOURCE_CHECKS.params(timezone=tz_name))

    assert_agree(SOURCE_CHECKS, results, {"timezone": tz_name})


@given(facts=fact_batch())
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_the_fact_checks_accept_exactly_what_fact_flight_accepts(pg: Conn, facts: list[Row]) -> None:
    results = verdicts(pg, FACT_CHECKS, fact_staging_columns(), facts, FACT_CHECKS.params())

    assert_agree(FACT_CHECKS, results, {})


@given(value=st.one_of(st.sampled_from(EDGE_INTS), st.integers(*INT4)))
@settings(max_examples=300, deadline=None)
def test_the_clock_validator_and_its_sql_agree_on_every_integer(pg: Conn, value: int) -> None:
    from flightdeck.warehouse import types

    template = SQL_COUNTERPARTS[types._valid_hhmm].template
    found = pg.execute(sql.SQL("SELECT " + template).format(value=sql.Literal(value))).fetchone()
    try:
        types._valid_hhmm(value)
        valid = True
    except ValueError:
        valid = False

    assert found is not None
    assert found[0] is valid
