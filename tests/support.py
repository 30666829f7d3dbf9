"""Helpers the tests share: table checksums, small queries, running a flights day, clock times."""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck import catalog
from flightdeck.catalog import ProjectConfig
from flightdeck.core.db import connect
from flightdeck.core.partition import Partition
from flightdeck.core.stage import Endpoints, StageContext
from flightdeck.sources.flights import pipeline as flights
from flightdeck.sources.reference.load import FileLoadResult, load_reference_file
from flightdeck.sources.world_airports.load import WorldAirportsResult
from flightdeck.sources.world_airports.load import load as load_world_airports
from flightdeck.sources.world_airports.pipeline import NAME as WORLD_AIRPORTS
from flightdeck.warehouse.fact_keys import resolve_fact_keys

# Columns that legitimately differ between two loads of the same data.
VOLATILE = ("run_id", "loaded_at", "updated_at", "rejected_at", "rejected_id", "started_at", "recorded_at")


def stage_context(project: ProjectConfig, partition: Partition, endpoints: Endpoints | URL) -> StageContext[Any]:
    """The context a stage of the partition's pipeline gets (a URL alone: the warehouse, no source)."""
    if isinstance(endpoints, URL):
        endpoints = Endpoints(warehouse=endpoints)
    return catalog.stage_context(project, partition, endpoints)


def run_flights_day(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> None:
    """Every stage of flights_daily for one day, in order, as a run of the DAG does."""
    ctx = stage_context(project, partition, endpoints)
    for stage in flights.PIPELINE.stages.values():
        stage(ctx)


def hhmm(minutes: int) -> int:
    """Minutes after midnight as the source's HHMM clock time (the inverse of hhmm_to_minutes)."""
    return (minutes // 60) * 100 + minutes % 60


def scalar(url: URL, query: str, params: tuple[Any, ...] = ()) -> Any:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(query.encode(), params)
        row = cur.fetchone()
    return row[0] if row else None


def table_checksum(url: URL, table: str, order_by: str) -> str:
    """md5 over every row (minus volatile columns) in a fixed order: equal tables, equal sums."""
    schema, name = table.split(".")
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position",
            (schema, name),
        )
        columns = [str(row[0]) for row in cur.fetchall() if row[0] not in VOLATILE]
        cur.execute(
            sql.SQL("SELECT md5(coalesce(string_agg(row({})::text, '|' ORDER BY {}), '')) FROM {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                sql.SQL(order_by),  # type: ignore[arg-type]  # test-owned constant
                sql.Identifier(schema, name),
            )
        )
        row = cur.fetchone()
    return str(row[0]) if row else ""


def load_reference(
    warehouse: URL,
    project: ProjectConfig,
    day: dt.date = dt.date(2013, 1, 1),
    run_id: str = "test",
    world_airports: bool = False,
) -> dict[str, FileLoadResult]:
    """What a reference_data run does: every file of the landing folder's drop, then the fact keys.

    With world_airports, airportsdata's airports are merged after the drop's files, before the fact
    keys, as the DAG does when the section is configured (off by default: most tests are about the drop).
    """
    partition = Partition("reference", day, day + dt.timedelta(days=1), "reference_data", run_id)
    ctx = StageContext(project.reference, partition, Endpoints(warehouse=warehouse), project.staging_schema)
    results = {name: load_reference_file(ctx, name) for name in project.reference.files}
    if world_airports:
        run_world_airports(warehouse, project, day, run_id)
    resolve_fact_keys(warehouse, partition)
    return results


def run_world_airports(
    warehouse: URL, project: ProjectConfig, day: dt.date = dt.date(2013, 1, 1), run_id: str = "test"
) -> WorldAirportsResult:
    """The load_world_airports task of a reference_data run: airportsdata's airports into core.dim_airport."""
    partition = Partition(WORLD_AIRPORTS, day, day + dt.timedelta(days=1), "reference_data", run_id)
    return load_world_airports(stage_context(project, partition, warehouse))
