"""A source system with one real day of flights plus the kinds of bad rows real systems produce."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.core.db import connect, dispose_engines
from flightdeck.core.migrations import apply_sql_file
from flightdeck.core.staging import copy_records
from flightdeck.sources.flights.pipeline import SOURCE_DDL
from flightdeck_tools.seed import FLIGHT_COLUMNS
from tests.conftest import PgServer

SQL_INJECTION = "'); DROP TABLE core.fact_flights; --"


def real_rows(source_url: URL, day: int) -> list[dict[str, Any]]:
    with connect(source_url) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT {} FROM ops.flights WHERE year = 2013 AND month = 1 AND day = %s ORDER BY flight_id"
            ).format(sql.SQL(", ").join(sql.Identifier(c) for c in FLIGHT_COLUMNS)),
            (day,),
        )
        return [dict(zip(FLIGHT_COLUMNS, row, strict=True)) for row in cur.fetchall()]


def bad_rows(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Seven injected rows: five to reject (one only at pre-load), a duplicate delivery, a valid oddity."""
    return [
        {**template, "flight": 9001, "dep_time": 2575},  # not a clock time
        {**template, "flight": 9002, "carrier": SQL_INJECTION},  # not a carrier code
        {**template, "flight": 9003, "air_time": 5},  # 1,400 miles in 5 minutes
        dict(template),  # the same flight delivered twice: removed and counted, not an error
        {**template, "tailnum": "N1ABC"},  # the same flight with other values: a conflicting record
        {**template, "flight": 9004, "tailnum": "N999ZZ"},  # valid, but unknown to the reference data
        {**template, "flight": 9005, "tailnum": "N\uff11\uff12\uff13\u2708"},  # full-width digits and a plane
    ]


def day_source_database(pg_server: PgServer, source_url: URL, prefix: str, extra: list[dict[str, Any]]) -> URL:
    """A new source database: ops.flights with 2013-01-01's real flights and `extra`."""
    url = pg_server.create_database(prefix)
    day = real_rows(source_url, 1)
    with connect(url) as conn:
        apply_sql_file(conn, SOURCE_DDL)
        copy_records(conn, sql.Identifier("ops", "flights"), FLIGHT_COLUMNS, [*day, *extra])
    return url


@pytest.fixture
def dirty_source(pg_server: PgServer, source_url: URL) -> Iterator[URL]:
    """ops.flights with 2013-01-01's real flights and the bad rows above."""
    url = day_source_database(pg_server, source_url, "fdt_dirty", bad_rows(real_rows(source_url, 1)[0]))
    yield url
    dispose_engines()
    pg_server.drop_database(url)


@pytest.fixture
def day_source(pg_server: PgServer, source_url: URL) -> Iterator[URL]:
    """ops.flights with 2013-01-01's real flights only: a source to break."""
    url = day_source_database(pg_server, source_url, "fdt_day", [])
    yield url
    dispose_engines()
    pg_server.drop_database(url)
