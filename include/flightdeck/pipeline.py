"""Orchestration of the flights pipeline: one function per stage, each idempotent per partition.

The Airflow operators in plugins/ call these; so do the tests. Each stage reads the previous
stage's staging table (never XCom), records its counts in audit.load_runs and logs them as JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

from psycopg import sql
from pydantic import ValidationError
from sqlalchemy.engine import URL

from flightdeck import audit
from flightdeck.config import PipelineConfig, ProjectConfig, TargetConfig
from flightdeck.db import connect, ensure_sql_file, qualified, schema_exists, table_exists
from flightdeck.enrichment import count_without_weather, weather_join, weather_targets, weather_values
from flightdeck.errors import PermanentPipelineError, ReconciliationError
from flightdeck.extractors.drift import check_source_schema
from flightdeck.extractors.postgres import column_list, copy_query, count_rows, create_staging_table
from flightdeck.loaders.dimensions import lookup, versions_on
from flightdeck.loaders.partition import Enrichment, preload_rejections, replace_partition
from flightdeck.loaders.staging import copy_records, read_chunks
from flightdeck.logs import stage_log
from flightdeck.partition import Partition
from flightdeck.schemas.flights import FactFlight, SourceFlight
from flightdeck.transformers.flights import ReferenceLookup, to_fact, zone
from flightdeck.validation import Rejection, explain, validate_records

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
# Source columns the pipeline knows and deliberately does not read (not drift).
IGNORED_SOURCE_COLUMNS = ("recorded_at",)
FACT_COLUMNS: tuple[str, ...] = tuple(FactFlight.model_fields)
EXTRACT_STAGES = ("post_extract", "post_transform")


@dataclass(frozen=True)
class Endpoints:
    """Where a pipeline reads and writes: SQLAlchemy URLs resolved from Airflow connections."""

    source: URL
    warehouse: URL


def ensure_warehouse(warehouse: URL, staging_schema: str) -> None:
    """Create or complete the warehouse schema (idempotent), including the configured staging schema."""
    with connect(warehouse) as conn:
        ensure_sql_file(conn, "warehouse.sql", ledger="audit.schema_migrations")
        # The fact load joins core.weather_hourly (weather at departure), so it must exist.
        ensure_sql_file(conn, "weather.sql", ledger="audit.schema_migrations")
        if not schema_exists(conn, staging_schema):  # CREATE SCHEMA checks privileges even if it exists
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(staging_schema)))


def mark_status(
    warehouse: URL, partition: Partition, status: str, error: str, only_if_status: str | None = None
) -> None:
    """Record a stage failure ('retrying' or 'failed') on the run's audit row.

    A later successful attempt overwrites it. With only_if_status, change nothing unless the row
    is in that status (a final failure must not overwrite what check recorded).
    """
    with connect(warehouse) as conn:
        if only_if_status is not None:
            current = audit.run_row(conn, partition)
            if current is None or current.get("status") != only_if_status:
                return
        audit.record_run(conn, partition, status=status, error=error)


def source_query(cfg: PipelineConfig, partition: Partition) -> tuple[sql.Composed, list[object]]:
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


def extract(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> int:
    """Copy the partition's source rows into its raw staging table; returns the row count."""
    cfg = project.pipeline(partition.pipeline)
    raw = partition.staging_table(project.staging_schema, "raw")
    with stage_log("extract", partition.log_context()) as counts:
        ensure_warehouse(endpoints.warehouse, project.staging_schema)
        query, params = source_query(cfg, partition)
        with connect(endpoints.warehouse) as wh, connect(endpoints.source) as src:
            with src.cursor() as cur:
                # One snapshot for the count and the copy, so they must agree.
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            drift = check_source_schema(
                src, cfg.source.table, SOURCE_COLUMNS, cfg.source.allow_new_columns, IGNORED_SOURCE_COLUMNS
            )
            if drift.added:
                counts.extra["ignored_new_columns"] = list(drift.added)
            expected = count_rows(src, query, params)
            create_staging_table(wh, raw, SOURCE_COLUMNS)
            copied = copy_query(src, query, params, wh, raw, [name for name, _ in SOURCE_COLUMNS])
            if copied != expected:
                raise PermanentPipelineError(f"source had {expected} rows but {copied} were staged")
        counts.records_in = counts.records_out = copied
    with connect(endpoints.warehouse) as wh:
        audit.record_extracted(wh, partition, copied, counts.duration_s)
    return copied


def reference_lookup(conn: Any, day: dt.date | None = None) -> ReferenceLookup:
    """Dimension keys for a day's flights: aircraft versions valid that day (the current ones without a day)."""
    airports = lookup(conn, qualified("core.dim_airport"), "faa", "airport_key", "tzone")
    carriers = lookup(conn, qualified("core.dim_carrier"), "carrier", "carrier_key")
    aircraft = versions_on(conn, qualified("core.dim_aircraft"), "tailnum", "aircraft_key", day)
    return ReferenceLookup(
        airports={code: (int(found[0]), found[1]) for code, found in airports.items()},
        carriers={code: int(found[0]) for code, found in carriers.items()},
        aircraft=aircraft,
    )


def validate_and_transform(
    rows: list[dict[str, Any]], refs: ReferenceLookup, timezone: str
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Post-extract validation, transformation and post-transform validation of one chunk."""
    sources, rejections = validate_records(rows, SourceFlight, "post_extract", {"timezone": timezone})
    raw_by_id = {row["flight_id"]: row for row in rows}
    facts: list[dict[str, Any]] = []
    origin_zone = zone(timezone)
    for source in sources:
        fact = to_fact(source, refs, origin_zone)
        try:
            FactFlight.model_validate(fact)
        except ValidationError as exc:
            field, reason = explain(exc)
            rejections.append(Rejection("post_transform", field, reason, raw_by_id[source.flight_id]))
            continue
        facts.append(fact)
    return facts, rejections


def transform(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> tuple[int, int]:
    """Validate raw staging, transform it into clean staging; returns (valid, rejected)."""
    cfg = project.pipeline(partition.pipeline)
    raw = partition.staging_table(project.staging_schema, "raw")
    clean = partition.staging_table(project.staging_schema, "clean")
    with stage_log("transform", partition.log_context()) as counts, connect(endpoints.warehouse) as wh:
        refs = reference_lookup(wh)
        create_staging_table(wh, clean, fact_staging_columns())
        all_rejections: list[Rejection] = []
        valid = 0
        query = sql.SQL("SELECT * FROM {} ORDER BY flight_id").format(raw)
        for chunk in read_chunks(wh, query, [], cfg.chunk_rows):
            counts.records_in += len(chunk)
            facts, rejections = validate_and_transform(chunk, refs, cfg.timezone)
            valid += copy_records(wh, clean, FACT_COLUMNS, facts)
            all_rejections.extend(rejections)
        audit.replace_rejections(wh, partition, EXTRACT_STAGES, all_rejections)
        counts.records_out = valid
        counts.rejected = len(all_rejections)
    with connect(endpoints.warehouse) as wh:
        audit.record_transformed(wh, partition, valid, len(all_rejections), counts.duration_s)
    return valid, len(all_rejections)


def fact_staging_columns() -> tuple[tuple[str, LiteralString], ...]:
    types: dict[str, LiteralString] = {
        "origin": "text",
        "carrier": "text",
        "flight": "integer",
        "sched_dep_ts": "timestamptz",
        "flight_date": "date",
        "dest": "text",
        "tailnum": "text",
        "origin_airport_key": "integer",
        "dest_airport_key": "integer",
        "carrier_key": "integer",
        "aircraft_key": "integer",
        "status": "text",
        "is_cancelled": "boolean",
        "sched_dep_local": "timestamp",
        "dep_ts": "timestamptz",
        "dep_local": "timestamp",
        "sched_arr_local": "timestamp",
        "arr_local": "timestamp",
        "arr_ts": "timestamptz",
        "dep_delay_min": "integer",
        "arr_delay_min": "integer",
        "air_time_min": "integer",
        "distance_mi": "integer",
        "source_flight_id": "bigint",
    }
    return tuple((name, types[name]) for name in FACT_COLUMNS)


def load(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> int:
    """Pre-load checks, then replace the partition in one transaction; returns rows loaded."""
    cfg = project.pipeline(partition.pipeline)
    clean = partition.staging_table(project.staging_schema, "clean")
    with stage_log("load", partition.log_context()) as counts, connect(endpoints.warehouse) as wh:
        run = audit.run_row(wh, partition) or {}
        extracted = int(run.get("extracted") or 0)
        require_complete_staging(wh, clean, partition, extracted)
        preload = preload_rejections(
            wh,
            clean,
            cfg.target.key,
            cfg.target.partition_column,
            partition.start,
            partition.end,
            order_column="source_flight_id",
            content_columns=[name for name in FACT_COLUMNS if name != "source_flight_id"],
        )
        rejections = preload.rejections
        audit.replace_rejections(wh, partition, ["pre_load"], rejections)
        rejected = audit.count_rejections(wh, partition)
        if extracted and rejected / extracted > cfg.max_reject_share:
            raise ReconciliationError(
                f"{rejected} of {extracted} records rejected ({rejected / extracted:.1%}), above the "
                f"configured max_reject_share {cfg.max_reject_share:.1%}: the partition was not loaded; "
                "see audit.rejected_records for the reasons"
            )
        _, inserted = replace_partition(
            wh,
            qualified(cfg.target.table),
            clean,
            FACT_COLUMNS,
            cfg.target.partition_column,
            partition.start,
            partition.end,
            partition.run_id,
            preload.excluded_ctids,
            enrichment=Enrichment(weather_targets(), weather_values("w"), weather_join("s", "w")),
        )
        without_weather = count_without_weather(wh, partition.start, partition.end)
        counts.records_in = inserted + len(rejections) + preload.duplicates
        counts.records_out = inserted
        counts.rejected = len(rejections)
        counts.extra["duplicates"] = preload.duplicates
        counts.extra["without_weather"] = without_weather
    with connect(endpoints.warehouse) as wh:
        audit.record_loaded(wh, partition, inserted, rejected, preload.duplicates, counts.duration_s)
        audit.record_run(wh, partition, without_weather=without_weather)
    return inserted


def require_complete_staging(
    conn: Any, clean: sql.Identifier, partition: Partition, extracted: int, stages: Sequence[str] = EXTRACT_STAGES
) -> None:
    """Clean staging plus earlier rejections must account for every extracted row.

    Staging tables are UNLOGGED: a database crash empties them. Loading then would replace the
    partition with nothing, so refuse and say how to recover.
    """
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(clean))
        staged = int(str((cur.fetchone() or (0,))[0]))
        cur.execute(
            "SELECT count(*) FROM audit.rejected_records WHERE pipeline = %s AND partition_date = %s "
            "AND stage = ANY(%s) AND replayed_at IS NULL",
            (partition.pipeline, partition.key, list(stages)),
        )
        rejected = int(str((cur.fetchone() or (0,))[0]))
    if staged + rejected != extracted:
        raise PermanentPipelineError(
            f"clean staging holds {staged} rows and {rejected} were rejected, but {extracted} were extracted: "
            "staging is stale or was lost; clear the run from the extract task"
        )


def check(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> Mapping[str, int]:
    """Reconcile counts and check keys; fail the run (and mark it failed) when anything is off."""
    return check_partition(endpoints.warehouse, project.pipeline(partition.pipeline).target, partition)


def check_partition(warehouse: URL, target_cfg: TargetConfig, partition: Partition) -> Mapping[str, int]:
    """check for any pipeline's target table: extracted = loaded + rejected, keys unique and not null."""
    target = qualified(target_cfg.table)
    pcol = sql.Identifier(target_cfg.partition_column)
    keys = column_list(target_cfg.key)
    in_partition = sql.SQL("{} >= %s AND {} < %s").format(pcol, pcol)
    window = (partition.start, partition.end)
    with stage_log("check", partition.log_context()) as counts, connect(warehouse) as wh:
        run = audit.run_row(wh, partition) or {}
        extracted = int(run.get("extracted") or 0)
        removed = int(run.get("duplicates") or 0)
        rejected = audit.count_rejections(wh, partition)
        with wh.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(target, in_partition), window)
            loaded = int(str((cur.fetchone() or (0,))[0]))
            cur.execute(
                sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} GROUP BY {} HAVING count(*) > 1) d").format(
                    target, in_partition, keys
                ),
                window,
            )
            duplicates = int(str((cur.fetchone() or (0,))[0]))
            null_keys = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(k)) for k in target_cfg.key)
            cur.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE ({}) AND ({})").format(target, in_partition, null_keys),
                window,
            )
            nulls = int(str((cur.fetchone() or (0,))[0]))
        result = {
            "extracted": extracted,
            "loaded": loaded,
            "rejected": rejected,
            "duplicates_removed": removed,
            "duplicate_keys": duplicates,
            "null_keys": nulls,
        }
        counts.records_in = extracted
        counts.records_out = loaded
        counts.rejected = rejected
        counts.extra.update(result)
        problems: list[str] = []
        if run.get("extracted") is None:
            problems.append("no extract recorded for this run: run the extract task first")
        if extracted != loaded + rejected + removed:
            problems.append(
                f"extracted {extracted} != loaded {loaded} + rejected {rejected} + duplicates removed {removed}"
            )
        if duplicates:
            problems.append(f"{duplicates} duplicate keys")
        if nulls:
            problems.append(f"{nulls} rows with null key columns")
    with connect(warehouse) as wh:
        if problems:
            audit.record_run(wh, partition, status="failed", error="; ".join(problems), check_s=counts.duration_s)
        else:
            audit.record_run(wh, partition, status="success", error=None, check_s=counts.duration_s)
    if problems:
        raise ReconciliationError(f"partition {partition.start} failed its checks: " + "; ".join(problems))
    return result


@dataclass(frozen=True)
class ReplayResult:
    replayed: int  # rejected records that now pass and were loaded
    still_rejected: int  # records that still fail the rules


def replay_rejects(endpoints: Endpoints, project: ProjectConfig, day: dt.date) -> ReplayResult:
    """Dead-letter replay: re-validate a partition's rejected records and load those that now pass.

    For rules or rejected payloads fixed since the run. Passing records join the partition's clean
    staging table and are marked replayed; then the normal load and check run for the partition's
    latest run. Running it again finds nothing new to replay and changes nothing.
    """
    cfg = project.pipeline("flights")
    clean_name = default_partition("flights", day).staging_table(project.staging_schema, "clean")
    with connect(endpoints.warehouse) as wh:
        latest = audit.latest_run(wh, "flights", day)
        if latest is None:
            raise PermanentPipelineError(f"no run of flights for {day}: run the DAG for that day first")
        partition = Partition("flights", day, day + dt.timedelta(days=1), latest[0], latest[1])
        if not table_exists(wh, clean_name.as_string(wh)):
            raise PermanentPipelineError(f"staging for {day} is gone: rerun the day instead of replaying")
        pending = audit.pending_rejections(wh, partition, EXTRACT_STAGES)
    with stage_log("replay", partition.log_context()) as counts:
        counts.records_in = len(pending)
        ids_by_flight = {int(raw["flight_id"]): rid for rid, raw in pending if "flight_id" in raw}
        with connect(endpoints.warehouse) as wh:
            refs = reference_lookup(wh, day)
            facts, still = validate_and_transform([raw for _, raw in pending], refs, cfg.timezone)
            passed = [ids_by_flight[int(fact["source_flight_id"])] for fact in facts]
            copy_records(wh, clean_name, FACT_COLUMNS, facts)
            audit.mark_replayed(wh, passed, f"replay__{dt.datetime.now(dt.UTC).isoformat()}")
        counts.records_out = len(passed)
        counts.rejected = len(still)
    if passed:
        load(endpoints, project, partition)
        check(endpoints, project, partition)
    return ReplayResult(replayed=len(passed), still_rejected=len(still))


def default_partition(pipeline: str, day: dt.date, dag_id: str = "manual", run_id: str = "manual") -> Partition:
    return Partition(pipeline, day, day + dt.timedelta(days=1), dag_id, run_id)
