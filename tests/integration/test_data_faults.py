"""Data faults in a real source day, then their fix.

Whatever the source delivers, bad rows never reach the warehouse, none is lost (extracted = loaded +
rejected + duplicates removed, each rejected row kept verbatim with its reason), and once the source
is fixed a rerun's warehouse equals a clean run's, table checksum for table checksum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig
from flightdeck.core.db import connect
from flightdeck.core.errors import SourceNotReadyError, is_transient
from flightdeck.core.partition import day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.core.staging import copy_records
from flightdeck.sources.flights import pipeline as flights
from flightdeck_tools.seed import FLIGHT_COLUMNS
from tests.integration.conftest import SQL_INJECTION, real_rows
from tests.support import load_reference, run_flights_day, scalar, stage_context, table_checksum

DAY = day_partition("flights", dt.date(2013, 1, 1))
KEY_ORDER = "origin, carrier, flight, sched_dep_ts"
REAL_ROWS = 842

Row = dict[str, Any]


def duplicated_day(day: list[Row]) -> list[Row]:
    """The whole day delivered a second time (a replayed export)."""
    return [dict(row) for row in day]


def out_of_range(day: list[Row]) -> list[Row]:
    t = day[0]
    return [
        {**t, "flight": 9101, "dep_time": 2575},  # not a clock time
        {**t, "flight": 9102, "sched_dep_time": 2400, "hour": 24, "minute": 0},
        {**t, "flight": 9103, "distance": 0},
        {**t, "flight": 9104, "distance": -1},
        {**t, "flight": 9105, "air_time": 5},  # far too fast for the distance
        {**t, "flight": 9106, "dep_delay": 2_000_000_000},
        {**t, "flight": 9107, "month": 1, "day": 1, "minute": 61},
    ]


def null_values(day: list[Row]) -> list[Row]:
    """Nulls where the source's own constraints allow them but the flight's other values contradict them."""
    departed = next(row for row in day if row["dep_time"] is not None and row["arr_time"] is not None)
    return [
        {**departed, "flight": 9201, "dep_time": None},  # arrived, never departed
        {**departed, "flight": 9202, "dep_delay": None},  # departed without a delay
        {**departed, "flight": 9203, "arr_time": None},  # an arrival delay without an arrival
    ]


def odd_unicode(day: list[Row]) -> list[Row]:
    t = day[0]
    return [
        {**t, "flight": 9301, "dest": "JF\u200bK"},  # zero-width space
        {**t, "flight": 9302, "carrier": "U\u0410"},  # Cyrillic A, looks like UA
        {**t, "flight": 9303, "tailnum": "N\u202e123"},  # right-to-left override
        {**t, "flight": 9304, "tailnum": "N\uff11\uff12\uff13"},  # full-width digits
        {**t, "flight": 9305, "dest": "\U0001f6eb\U0001f6ec"},  # emoji
        {**t, "flight": 9306, "tailnum": "N1\u0301"},  # combining accent
    ]


def sql_metacharacters(day: list[Row]) -> list[Row]:
    t = day[0]
    return [
        {**t, "flight": 9401, "carrier": SQL_INJECTION},
        {**t, "flight": 9402, "tailnum": "N1'; DELETE FROM core.fact_flights; --"},
        {**t, "flight": 9403, "dest": '"); TRUNCATE audit.rejected_records; --'},
        {**t, "flight": 9404, "tailnum": "$$;\\x00%s{}"},
    ]


# fault -> (rows it adds to the real day, how many of them are rejected, how many are duplicates)
FAULTS: dict[str, tuple[Callable[[list[Row]], list[Row]], int, int]] = {
    "duplicated-source-rows": (duplicated_day, 0, REAL_ROWS),
    "out-of-range-values": (out_of_range, 7, 0),
    "null-values": (null_values, 3, 0),
    "odd-unicode": (odd_unicode, 6, 0),
    "sql-metacharacters": (sql_metacharacters, 4, 0),
}


def run_day(endpoints: Endpoints, project: ProjectConfig) -> None:
    run_flights_day(endpoints, project, DAY)


def rejected_payloads(warehouse: URL) -> list[Row]:
    with connect(warehouse) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT raw FROM audit.rejected_records WHERE pipeline = 'flights' AND partition_date = %s "
            "AND replayed_at IS NULL ORDER BY (raw->>'flight')::int",
            (DAY.start,),
        )
        return [dict(row[0]) for row in cur.fetchall()]  # type: ignore[arg-type]


def inject(source: URL, rows: list[Row]) -> int:
    """Append rows to the source day; returns the highest flight_id before them (to remove them again)."""
    before = int(scalar(source, "SELECT max(flight_id) FROM ops.flights"))
    with connect(source) as conn:
        copy_records(conn, sql.Identifier("ops", "flights"), FLIGHT_COLUMNS, rows)
    return before


def fix(source: URL, last_good_id: int) -> None:
    with connect(source) as conn:
        conn.execute("DELETE FROM ops.flights WHERE flight_id > %s", (last_good_id,))


@pytest.fixture
def clean_run(day_source: URL, warehouse_url: URL, project: ProjectConfig) -> tuple[Endpoints, str]:
    """The real day loaded cleanly: its endpoints and the fact table's checksum."""
    endpoints = Endpoints(source=day_source, warehouse=warehouse_url)
    load_reference(warehouse_url, project)
    run_day(endpoints, project)
    return endpoints, table_checksum(warehouse_url, "core.fact_flights", KEY_ORDER)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_data_fault_never_reaches_the_warehouse_and_the_fixed_rerun_equals_a_clean_run(
    fault: str, clean_run: tuple[Endpoints, str], project: ProjectConfig
) -> None:
    endpoints, clean = clean_run
    make_rows, expected_rejected, expected_duplicates = FAULTS[fault]
    injected = make_rows(real_rows(endpoints.require_source(), 1))
    last_good = inject(endpoints.require_source(), injected)

    run_day(endpoints, project)  # the check inside enforces extracted = loaded + rejected + duplicates

    counts = flights.check(stage_context(project, DAY, endpoints))
    assert counts["extracted"] == REAL_ROWS + len(injected)
    assert counts["loaded"] == REAL_ROWS
    assert (counts["rejected"], counts["duplicates_removed"]) == (expected_rejected, expected_duplicates)
    assert table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER) == clean
    # Each rejected row is kept as delivered, odd characters and all, with a reason.
    payloads = rejected_payloads(endpoints.warehouse)
    for payload in payloads:
        delivered = next(row for row in injected if row["flight"] == payload["flight"])
        assert {name: payload[name] for name in ("carrier", "tailnum", "dest", "origin", "flight")} == {
            name: delivered[name] for name in ("carrier", "tailnum", "dest", "origin", "flight")
        }
    assert scalar(endpoints.warehouse, "SELECT count(*) FROM audit.rejected_records WHERE reason = ''") == 0
    assert scalar(endpoints.warehouse, "SELECT to_regclass('core.fact_flights') IS NOT NULL") is True

    fix(endpoints.require_source(), last_good)
    run_day(endpoints, project)

    assert table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER) == clean
    assert rejected_payloads(endpoints.warehouse) == []


def test_a_day_not_delivered_yet_is_retried_and_readers_keep_the_loaded_day(
    clean_run: tuple[Endpoints, str], project: ProjectConfig
) -> None:
    endpoints, clean = clean_run
    with connect(endpoints.require_source()) as conn:
        conn.execute("CREATE TABLE ops.flights_held AS SELECT * FROM ops.flights")
        conn.execute("DELETE FROM ops.flights")  # the source lost the day (or has not received it yet)

    with pytest.raises(SourceNotReadyError, match="not delivered yet") as caught:
        run_day(endpoints, project)

    assert is_transient(caught.value)  # Airflow retries the extract, then alerts
    assert table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER) == clean

    with connect(endpoints.require_source()) as conn:
        conn.execute("INSERT INTO ops.flights OVERRIDING SYSTEM VALUE SELECT * FROM ops.flights_held")
    run_day(endpoints, project)

    assert table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER) == clean


def test_a_day_that_really_is_empty_loads_empty_where_allowed_and_reconciles(
    clean_run: tuple[Endpoints, str], project: ProjectConfig
) -> None:
    endpoints, _ = clean_run
    settings = project.pipeline("flights").model_copy(update={"allow_empty_partitions": True})
    lenient = project.model_copy(update={"pipelines": {**project.pipelines, "flights": settings}})
    with connect(endpoints.require_source()) as conn:
        conn.execute("DELETE FROM ops.flights")

    run_day(endpoints, lenient)

    assert flights.check(stage_context(lenient, DAY, endpoints)) == {
        "extracted": 0,
        "loaded": 0,
        "rejected": 0,
        "duplicates_removed": 0,
        "duplicate_keys": 0,
        "null_keys": 0,
    }
