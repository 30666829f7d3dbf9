"""A day whose every row is invalid: rejected with reasons, streamed to the audit chunk by chunk, refused at load.

Real PostgreSQL, real rows: January 1-3 of 2013 laid onto 2013-01-01 with every flight number out of
range (10000 + flight), so each row fails exactly one rule (FlightNumber allows 1-9999).
"""

from __future__ import annotations

import datetime as dt
import gc
import math
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig
from flightdeck.core import audit
from flightdeck.core.db import connect, dispose_engines
from flightdeck.core.errors import ReconciliationError
from flightdeck.core.migrations import apply_sql_file
from flightdeck.core.partition import Partition, day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.core.validation import Rejection
from flightdeck.sources.flights import pipeline as flights
from flightdeck.sources.flights import transform as flights_transform
from flightdeck.sources.flights.pipeline import SOURCE_DDL
from flightdeck_tools.seed import FLIGHT_COLUMNS
from tests.conftest import PgServer
from tests.support import load_reference, scalar, stage_context

DAY = day_partition("flights", dt.date(2013, 1, 1))
CHUNK_ROWS = 100  # the smallest chunk the configuration allows: many chunks from a few thousand rows


@pytest.fixture
def rejected_source(pg_server: PgServer, source_url: URL) -> Iterator[URL]:
    """ops.flights holding Jan 1-3 2013's real flights, all moved onto Jan 1, every flight number + 10000."""
    url = pg_server.create_database("fdt_rejected")
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in FLIGHT_COLUMNS)
    with connect(url) as conn:
        apply_sql_file(conn, SOURCE_DDL)
    with connect(source_url) as src, connect(url) as dst, src.cursor() as out_cur, dst.cursor() as in_cur:
        query = sql.SQL("SELECT {} FROM ops.flights WHERE year = 2013 AND month = 1 AND day <= 3 ORDER BY flight_id")
        out_cur.execute(query.format(columns))
        rows = out_cur.fetchall()
        with in_cur.copy(sql.SQL("COPY ops.flights ({}) FROM STDIN").format(columns)) as copy:
            for row in rows:
                copy.write_row(row)
        # Same local clock times on Jan 1: the day and time_hour move together, only the flight is wrong.
        in_cur.execute(
            "UPDATE ops.flights SET time_hour = time_hour - (day - 1) * interval '1 day', day = 1, "
            "flight = 10000 + flight"
        )
    yield url
    dispose_engines()
    pg_server.drop_database(url)


def _small_chunks(project: ProjectConfig) -> ProjectConfig:
    settings = project.pipeline("flights").model_copy(update={"chunk_rows": CHUNK_ROWS})
    return project.model_copy(update={"pipelines": {**project.pipelines, "flights": settings}})


def _live_rejections() -> int:
    return sum(1 for obj in gc.get_objects() if type(obj) is Rejection)


def test_a_day_rejected_wholesale_is_streamed_to_the_audit_and_refused_by_share(
    rejected_source: URL, warehouse_url: URL, project: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints = Endpoints(source=rejected_source, warehouse=warehouse_url)
    project = _small_chunks(project)
    total = scalar(rejected_source, "SELECT count(*) FROM ops.flights")
    assert total > 2_000  # three real days: many chunks, and a count that needs a thousands separator

    # The real writer, counted: each call's batch and the Rejections alive in the process meanwhile.
    calls: list[tuple[int, int]] = []
    real_write = audit.write_rejections

    def counting_write(conn: Any, partition: Partition, rejections: Sequence[Rejection]) -> int:
        calls.append((len(rejections), _live_rejections()))
        return real_write(conn, partition, rejections)

    load_reference(endpoints.warehouse, project)
    extracted = flights.extract(stage_context(project, DAY, endpoints))
    gc.collect()
    with monkeypatch.context() as patched:
        patched.setattr(flights_transform.audit, "write_rejections", counting_write)
        valid, rejected = flights.transform(stage_context(project, DAY, endpoints))

    assert (extracted, valid, rejected) == (total, 0, total)
    # One write per chunk of rejected rows, never more than a chunk alive: memory is bounded by the chunk.
    assert len(calls) == math.ceil(total / CHUNK_ROWS)
    assert sum(size for size, _ in calls) == total
    assert max(size for size, _ in calls) == CHUNK_ROWS
    assert max(live for _, live in calls) <= CHUNK_ROWS

    wh = endpoints.warehouse
    with connect(wh) as conn, conn.cursor() as cur:
        cur.execute("SELECT stage, field, reason, raw FROM audit.rejected_records")
        records = cur.fetchall()
    assert len(records) == total
    assert {(str(stage), str(field)) for stage, field, _, _ in records} == {("post_extract", "flight")}
    assert {str(reason) for _, _, reason, _ in records} == {"flight: Input should be less than or equal to 9999"}
    with connect(rejected_source) as conn, conn.cursor() as cur:
        cur.execute("SELECT flight_id, flight FROM ops.flights")
        source_flights = {int(str(fid)): int(str(flight)) for fid, flight in cur.fetchall()}
    raw_flights = {int(raw["flight_id"]): int(raw["flight"]) for _, _, _, raw in records}  # type: ignore[index]
    assert raw_flights == source_flights  # every row, with its raw payload as it came in
    assert scalar(
        wh, "SELECT row(extracted, valid, rejected)::text FROM audit.load_runs WHERE pipeline = 'flights'"
    ) == (f"({total},0,{total})")

    share = rf"flights 2013-01-01: {total:,} of {total:,} records rejected \(100\.0%\), above the configured "
    with pytest.raises(ReconciliationError, match=share + r"max_reject_share 5\.0%: the partition was not loaded"):
        flights.load(stage_context(project, DAY, endpoints))

    assert scalar(wh, "SELECT count(*) FROM core.fact_flights") == 0
    assert scalar(wh, "SELECT count(*) FROM audit.rejected_records") == total  # the evidence stays

    # A rerun of the transform replaces the rejections: the audit does not grow.
    assert flights.transform(stage_context(project, DAY, endpoints)) == (0, total)
    assert scalar(wh, "SELECT count(*) FROM audit.rejected_records") == total
