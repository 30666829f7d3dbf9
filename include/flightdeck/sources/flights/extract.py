"""Extract: the partition's source rows, copied from the source database into raw staging.

Binary COPY both ways (flightdeck.core.staging.copy_query): no row passes through Python objects.
The source's columns are checked first (schema drift fails naming the column), and the count and the
copy read one snapshot, so they must agree.
"""

from __future__ import annotations

from typing import LiteralString

from psycopg import sql

from flightdeck.core import audit
from flightdeck.core.compose import column_list, count_rows, qualified
from flightdeck.core.db import connect
from flightdeck.core.drift import check_source_schema
from flightdeck.core.errors import PermanentPipelineError, SourceNotReadyError
from flightdeck.core.logs import stage_log
from flightdeck.core.partition import Partition
from flightdeck.core.stage import StageContext
from flightdeck.core.staging import copy_query, create_staging_table
from flightdeck.sources.flights.config import FlightsConfig

# The source columns the pipeline reads, with the types it reads them as (explicit casts make a
# type change in the source fail loudly at extract, naming the column).
SOURCE_COLUMNS: tuple[tuple[str, LiteralString], ...] = (
    ("flight_id", "bigint"),
    ("year", "integer"),
    ("month", "integer"),
    ("day", "integer"),
    ("dep_time", "integer"),
    ("sched_dep_time", "integer"),
    ("dep_delay", "integer"),
    ("arr_time", "integer"),
    ("sched_arr_time", "integer"),
    ("arr_delay", "integer"),
    ("carrier", "text"),
    ("flight", "integer"),
    ("tailnum", "text"),
    ("origin", "text"),
    ("dest", "text"),
    ("air_time", "integer"),
    ("distance", "integer"),
    ("hour", "integer"),
    ("minute", "integer"),
    ("time_hour", "timestamptz"),
)
# The source's key of a record: what a replay re-reads a rejected record by.
SOURCE_KEY = "flight_id"
# Source columns the pipeline knows and deliberately does not read (not drift).
IGNORED_SOURCE_COLUMNS = ("recorded_at",)


def source_query(cfg: FlightsConfig, partition: Partition) -> tuple[sql.Composed, list[object]]:
    """The partition's rows: a row comparison on (year, month, day) so the source index applies."""
    day = sql.SQL("({})").format(column_list(cfg.source.day_columns))
    query = sql.SQL("SELECT {} FROM {} WHERE {} >= (%s, %s, %s) AND {} < (%s, %s, %s)").format(
        sql.SQL(", ").join(
            sql.SQL("{}::{}").format(sql.Identifier(name), sql.SQL(pg_type)) for name, pg_type in SOURCE_COLUMNS
        ),
        qualified(cfg.source.table),
        day,
        day,
    )
    params: list[object] = [
        partition.start.year,
        partition.start.month,
        partition.start.day,
        partition.end.year,
        partition.end.month,
        partition.end.day,
    ]
    return query, params


def source_records_query(
    cfg: FlightsConfig, partition: Partition, keys: list[int]
) -> tuple[sql.Composed, list[object]]:
    """The partition's rows with these source keys, read exactly as the extract reads them."""
    query, params = source_query(cfg, partition)
    return sql.SQL("{} AND {} = ANY(%s)").format(query, sql.Identifier(SOURCE_KEY)), [*params, keys]


def extract(ctx: StageContext[FlightsConfig]) -> int:
    """Copy the partition's source rows into its raw staging table; returns the row count.

    A day without any source rows is refused as not delivered yet (transient) unless the pipeline
    allows empty partitions.
    """
    cfg, partition = ctx.settings, ctx.partition
    raw = ctx.staging_table("raw")
    with stage_log("extract", partition.log_context()) as counts:
        query, params = source_query(cfg, partition)
        with connect(ctx.warehouse) as wh, connect(ctx.source) as src:
            with src.cursor() as cur:
                # One snapshot for the count and the copy, so they must agree.
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            drift = check_source_schema(
                src, cfg.source.table, SOURCE_COLUMNS, cfg.source.allow_new_columns, IGNORED_SOURCE_COLUMNS
            )
            if drift.added:
                counts.extra["ignored_new_columns"] = list(drift.added)
            expected = count_rows(src, query, params)
            if expected == 0 and not cfg.allow_empty_partitions:
                # Replacing the day with nothing would hide its flights from readers until a rerun.
                raise SourceNotReadyError(
                    f"{cfg.source.table} has no rows for {partition.start}: the day was not delivered yet; "
                    "the task is retried and the warehouse keeps what it holds. If the day really has no "
                    f"flights, set allow_empty_partitions: true for pipeline {partition.pipeline}"
                )
            create_staging_table(wh, raw, SOURCE_COLUMNS)
            copied = copy_query(src, query, params, wh, raw, [name for name, _ in SOURCE_COLUMNS])
            if copied != expected:
                raise PermanentPipelineError(f"source had {expected} rows but {copied} were staged")
        counts.records_in = counts.records_out = copied
    with connect(ctx.warehouse) as wh:
        audit.record_extracted(wh, partition, copied, counts.duration_s)
    return copied


def waiting_for(ctx: StageContext[FlightsConfig]) -> str | None:
    """None once the source holds rows for the partition's days, else what the run waits for.

    A pipeline that allows empty partitions never waits: an empty day is a day without flights.
    """
    cfg, partition = ctx.settings, ctx.partition
    if cfg.allow_empty_partitions:
        return None
    query, params = source_query(cfg, partition)
    with connect(ctx.source) as src:
        # A missing or drifted source table is no wait: it fails here, as the extract would.
        check_source_schema(src, cfg.source.table, SOURCE_COLUMNS, cfg.source.allow_new_columns, IGNORED_SOURCE_COLUMNS)
        rows = count_rows(src, query, params)
    if rows:
        return None
    return f"{cfg.source.table} to deliver the rows of {partition.start} (it holds none yet)"
