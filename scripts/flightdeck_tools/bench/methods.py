"""The measured methods, each moving the bench partition's source rows into the warehouse.

- pipeline / pipeline_rerun: pipeline.extract, transform, load and check, called by name, so the
  figures are those of whatever the stage functions currently do. The rerun repeats the same
  partition and run id on the loaded day (what clearing a run in Airflow does).
- pipeline_rejected: the same stage functions on the rejected day (every flight number out of
  range): extract, transform (every row rejected, explained and written to the audit) and the
  load, which must refuse the day. What a day rejected wholesale costs, its peak RSS above all.
- copy_pk: the practical limit. The pipeline's own source query (same columns, casts and day
  filter) streamed with binary COPY TO STDOUT from the source and COPY FROM STDIN into a new logged
  table in the warehouse: the 20 source columns with the pipeline's types and a primary key on
  (origin, carrier, flight, time_hour, minute), the fact table's natural key (origin, carrier,
  flight, sched_dep_ts) in source form, since sched_dep_ts = time_hour + minute.
- to_sql: pandas.read_sql of the same query through SQLAlchemy (psycopg 3), then
  DataFrame.to_sql with its defaults (method=None, no chunksize) into an equal table.
- to_sql_psycopg2: the same through SQLAlchemy's psycopg2 dialect, the driver most pandas and
  Airflow installations still use (psycopg2 comes with the Postgres provider).
- insert_rows: the same rows fetched with psycopg, then Airflow's PostgresHook.insert_rows with its
  defaults (one INSERT per row, a commit every 1,000) into an equal table; the hook's connection
  comes from an AIRFLOW_CONN_<ID> variable holding the warehouse URL.

to_sql, to_sql_psycopg2 and insert_rows move at most `sample_cap` rows (the partition's first by flight_id); the
runner scales their time to the whole partition by cost per row and labels it extrapolated.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine

from flightdeck.catalog import ProjectConfig
from flightdeck.core.compose import exists, qualified
from flightdeck.core.db import connect, engine_for
from flightdeck.core.partition import Partition
from flightdeck_tools.bench.models import Method, Stage, StageRun

if TYPE_CHECKING:
    from flightdeck.core.stage import StageContext

COMPARISON_SCHEMA = "bench"
COMPARISON_TABLES: dict[Method, str] = {
    "copy_pk": "copy_pk",
    "to_sql": "to_sql",
    "to_sql_psycopg2": "to_sql_psycopg2",
    "insert_rows": "insert_rows",
}
# Source form of the fact table's natural key (origin, carrier, flight, sched_dep_ts).
COMPARISON_KEY = ("origin", "carrier", "flight", "time_hour", "minute")
BENCH_DAG_ID = "bench"


@dataclass
class Outcome:
    """What a method did: the timed seconds, rows moved and, for the pipeline, stage figures."""

    seconds: float
    measured_rows: int
    target_rows: int
    stages: list[StageRun] = field(default_factory=list[StageRun])
    loaded: int | None = None
    rejected: int | None = None
    duplicates: int | None = None


@dataclass(frozen=True)
class Context:
    source: URL
    warehouse: URL
    project: ProjectConfig
    day: dt.date
    run_id: str
    rows: int
    sample_cap: int
    hook_conn_id: str


def bench_partition(day: dt.date, run_id: str) -> Partition:
    from flightdeck.core.partition import day_partition

    return day_partition("flights", day, dag_id=BENCH_DAG_ID, run_id=run_id)


def comparison_table(method: Method) -> sql.Identifier:
    return sql.Identifier(COMPARISON_SCHEMA, COMPARISON_TABLES[method])


def create_comparison_table(warehouse: URL, method: Method) -> None:
    """A fresh, logged table shaped like the pipeline's source rows, with the natural key as primary key."""
    from flightdeck.sources.flights.extract import SOURCE_COLUMNS

    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type)) for name, pg_type in SOURCE_COLUMNS
    )
    key = sql.SQL(", ").join(sql.Identifier(name) for name in COMPARISON_KEY)
    table = comparison_table(method)
    with connect(warehouse) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(COMPARISON_SCHEMA)))
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        cur.execute(sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY ({}))").format(table, columns, key))


def drop_comparison_tables(warehouse: URL) -> None:
    """Remove the comparison tables, and their schema when nothing else lives there."""
    with connect(warehouse) as conn, conn.cursor() as cur:
        for method in COMPARISON_TABLES:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(comparison_table(method)))
        cur.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            (COMPARISON_SCHEMA,),
        )
        row = cur.fetchone()
        if row is not None and int(str(row[0])) == 0:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {}").format(sql.Identifier(COMPARISON_SCHEMA)))


def count_table(warehouse: URL, table: sql.Identifier) -> int:
    with connect(warehouse) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
        row = cur.fetchone()
    return int(str(row[0])) if row else 0


def reset_warehouse_day(warehouse: URL, project: ProjectConfig, day: dt.date) -> None:
    """Remove every trace of the bench day from the warehouse, so the next run is a first load.

    Facts, audit rows, rejections and the day's staging tables go; VACUUM then reclaims the deleted
    facts so each first run meets the same physical table.
    """
    cfg = project.pipeline("flights")
    target = qualified(cfg.target.table)
    pcol = sql.Identifier(cfg.target.partition_column)
    partition = bench_partition(day, "reset")
    with connect(warehouse) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("DELETE FROM {} WHERE {} >= %s AND {} < %s").format(target, pcol, pcol),
            (partition.start, partition.end),
        )
        for audit_table in ("load_runs", "rejected_records"):
            cur.execute(
                sql.SQL("DELETE FROM {} WHERE pipeline = %s AND partition_date = %s").format(
                    sql.Identifier("audit", audit_table)
                ),
                (partition.pipeline, partition.key),
            )
        for kind in ("raw", "clean"):
            cur.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(partition.staging_table(project.staging_schema, kind))
            )
    with connect(warehouse) as conn:
        conn.rollback()
        conn.autocommit = True  # VACUUM cannot run inside a transaction
        try:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(target))
        finally:
            conn.autocommit = False


def _flights_stage_context(ctx: Context) -> StageContext[Any]:
    """The stage context of the flights pipeline on the bench partition."""
    from flightdeck.catalog import stage_context
    from flightdeck.core.stage import Endpoints

    partition = bench_partition(ctx.day, ctx.run_id)
    return stage_context(ctx.project, partition, Endpoints(source=ctx.source, warehouse=ctx.warehouse))


def _stage_runs(clock: list[float], stage_rows: tuple[tuple[Stage, int], ...]) -> list[StageRun]:
    """One StageRun per stage from the clock readings taken around each (one more reading than stages)."""
    return [
        StageRun(stage=name, seconds=clock[index + 1] - clock[index], rows=rows)
        for index, (name, rows) in enumerate(stage_rows)
    ]


def run_pipeline(ctx: Context) -> Outcome:
    """The four stage functions on the bench partition, each timed."""
    from flightdeck.sources.flights import pipeline as flights

    stage = _flights_stage_context(ctx)
    clock = [time.perf_counter()]
    extracted = flights.extract(stage)
    clock.append(time.perf_counter())
    valid, rejected = flights.transform(stage)
    clock.append(time.perf_counter())
    flights.load(stage)
    clock.append(time.perf_counter())
    checked = flights.check(stage)
    clock.append(time.perf_counter())
    loaded = int(checked["loaded"])
    # Rows each stage took in: extracted rows, raw rows, clean rows, loaded rows.
    stage_rows: tuple[tuple[Stage, int], ...] = (
        ("extract", extracted),
        ("transform", valid + rejected),
        ("load", valid),
        ("check", loaded),
    )
    return Outcome(
        seconds=clock[-1] - clock[0],
        measured_rows=extracted,
        target_rows=loaded,
        stages=_stage_runs(clock, stage_rows),
        loaded=loaded,
        rejected=int(checked["rejected"]),
        duplicates=int(checked["duplicates_removed"]),
    )


def run_pipeline_rejected(ctx: Context) -> Outcome:
    """extract, transform and the refused load of a day whose every row is invalid, each timed."""
    from flightdeck.core.errors import PermanentPipelineError, ReconciliationError
    from flightdeck.sources.flights import pipeline as flights

    stage = _flights_stage_context(ctx)
    partition = stage.partition
    clock = [time.perf_counter()]
    extracted = flights.extract(stage)
    clock.append(time.perf_counter())
    valid, rejected = flights.transform(stage)
    clock.append(time.perf_counter())
    try:
        flights.load(stage)
    except ReconciliationError:
        pass  # the refusal is the expected outcome
    else:
        raise PermanentPipelineError(f"the load accepted {ctx.day}, whose {rejected:,} of {extracted:,} rows failed")
    clock.append(time.perf_counter())
    if valid or rejected != extracted:
        raise PermanentPipelineError(f"{valid:,} of {extracted:,} rows of the rejected day passed validation")
    cfg = ctx.project.pipeline("flights")
    pcol = sql.Identifier(cfg.target.partition_column)
    facts = count_table_where(ctx.warehouse, qualified(cfg.target.table), pcol, partition.start, partition.end)
    stage_rows: tuple[tuple[Stage, int], ...] = (("extract", extracted), ("transform", extracted), ("load", 0))
    return Outcome(
        seconds=clock[-1] - clock[0],
        measured_rows=extracted,
        target_rows=facts,
        stages=_stage_runs(clock, stage_rows),
        loaded=0,
        rejected=rejected,
        duplicates=0,
    )


def count_table_where(warehouse: URL, table: sql.Identifier, column: sql.Identifier, start: Any, end: Any) -> int:
    with connect(warehouse) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE {} >= %s AND {} < %s").format(table, column, column), (start, end)
        )
        row = cur.fetchone()
    return int(str(row[0])) if row else 0


def _source_query(ctx: Context, sampled: bool) -> tuple[sql.Composed, list[object]]:
    """The pipeline's own source query for the bench partition, or its first `sample_cap` rows by flight_id.

    The sample starts at the partition's first flight_id (looked up here, before any clock runs), so
    the source reads it by primary key range: its cost grows with the sample, not the partition,
    and scaling it up charges the method nothing extra.
    """
    from flightdeck.sources.flights.extract import source_query

    query, params = source_query(ctx.project.pipeline("flights"), bench_partition(ctx.day, ctx.run_id))
    if not sampled:
        return query, params
    with connect(ctx.source) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT min(flight_id) FROM ({}) AS q").format(query), params)
        row = cur.fetchone()
    first = int(str(row[0])) if row and row[0] is not None else 0
    return sql.SQL("{} AND flight_id >= %s ORDER BY flight_id LIMIT %s").format(query), [
        *params,
        first,
        ctx.sample_cap,
    ]


def _sampled(ctx: Context) -> bool:
    return ctx.rows > ctx.sample_cap


def run_copy_pk(ctx: Context) -> Outcome:
    from flightdeck.core.staging import copy_query
    from flightdeck.sources.flights.extract import SOURCE_COLUMNS

    create_comparison_table(ctx.warehouse, "copy_pk")
    query, params = _source_query(ctx, sampled=False)
    table = comparison_table("copy_pk")
    started = time.perf_counter()
    with connect(ctx.warehouse) as wh, connect(ctx.source) as src:
        copied = copy_query(src, query, params, wh, table, [name for name, _ in SOURCE_COLUMNS])
    seconds = time.perf_counter() - started
    return Outcome(seconds=seconds, measured_rows=copied, target_rows=count_table(ctx.warehouse, table))


def _to_sql(ctx: Context, method: Method, source: Engine, warehouse: Engine) -> Outcome:
    import pandas as pd

    create_comparison_table(ctx.warehouse, method)
    query, params = _source_query(ctx, _sampled(ctx))
    text = query.as_string()
    table = comparison_table(method)
    started = time.perf_counter()
    with source.connect() as src:
        frame = pd.read_sql(text, src, params=cast("Any", tuple(params)))  # pyright: ignore[reportUnknownMemberType]
    with warehouse.begin() as wh:
        frame.to_sql(name=COMPARISON_TABLES[method], con=wh, schema=COMPARISON_SCHEMA, if_exists="append", index=False)
    seconds = time.perf_counter() - started
    return Outcome(seconds=seconds, measured_rows=len(frame), target_rows=count_table(ctx.warehouse, table))


def run_to_sql(ctx: Context) -> Outcome:
    return _to_sql(ctx, "to_sql", engine_for(ctx.source), engine_for(ctx.warehouse))


def run_to_sql_psycopg2(ctx: Context) -> Outcome:
    source, warehouse = (
        create_engine(url.set(drivername="postgresql+psycopg2")) for url in (ctx.source, ctx.warehouse)
    )
    try:
        return _to_sql(ctx, "to_sql_psycopg2", source, warehouse)
    finally:
        source.dispose()
        warehouse.dispose()


def run_insert_rows(ctx: Context) -> Outcome:
    from airflow.providers.postgres.hooks.postgres import (  # pyright: ignore[reportMissingTypeStubs]
        PostgresHook,
    )

    from flightdeck.sources.flights.extract import SOURCE_COLUMNS

    create_comparison_table(ctx.warehouse, "insert_rows")
    query, params = _source_query(ctx, _sampled(ctx))
    table = comparison_table("insert_rows")
    started = time.perf_counter()
    with connect(ctx.source) as src, src.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    hook = PostgresHook(postgres_conn_id=ctx.hook_conn_id)
    cast("Any", hook).insert_rows(
        f"{COMPARISON_SCHEMA}.{COMPARISON_TABLES['insert_rows']}",
        rows,
        target_fields=[name for name, _ in SOURCE_COLUMNS],
    )
    seconds = time.perf_counter() - started
    return Outcome(seconds=seconds, measured_rows=len(rows), target_rows=count_table(ctx.warehouse, table))


RUNNERS: dict[Method, Callable[[Context], Outcome]] = {
    "pipeline": run_pipeline,
    "pipeline_rerun": run_pipeline,
    "pipeline_rejected": run_pipeline_rejected,
    "copy_pk": run_copy_pk,
    "to_sql": run_to_sql,
    "to_sql_psycopg2": run_to_sql_psycopg2,
    "insert_rows": run_insert_rows,
}


def warm_imports(method: Method) -> None:
    """Import what a method needs before the clock starts (imports are not what is measured)."""
    needed = {
        "to_sql": ["pandas"],
        "to_sql_psycopg2": ["pandas", "psycopg2"],
        "insert_rows": ["airflow.providers.postgres.hooks.postgres"],
    }
    for module in ["flightdeck.sources.flights.pipeline", "flightdeck.core.staging", *needed.get(method, [])]:
        importlib.import_module(module)


def comparison_tables_exist(warehouse: URL) -> bool:
    with connect(warehouse) as conn:
        return any(exists(conn, comparison_table(method).as_string(conn)) for method in COMPARISON_TABLES)
