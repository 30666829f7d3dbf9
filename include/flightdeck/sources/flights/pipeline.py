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

from flightdeck.core import audit
from flightdeck.core.config import PipelineConfig, ProjectConfig, TargetConfig
from flightdeck.core.db import connect, ensure_sql_file, qualified, schema_exists, table_exists
from flightdeck.core.dimensions import lookup, versions_on
from flightdeck.core.drift import check_source_schema
from flightdeck.core.errors import PermanentPipelineError, ReconciliationError, SourceNotReadyError
from flightdeck.core.logs import stage_log
from flightdeck.core.partition import Partition
from flightdeck.core.replace import Enrichment, preload_rejections, replace_partition
from flightdeck.core.staging import column_list, copy_query, copy_records, count_rows, create_staging_table, read_chunks
from flightdeck.core.validation import Rejection, explain, validate_records
from flightdeck.sources.flights.facts import ReferenceLookup, to_fact, zone
from flightdeck.sources.flights.schemas import FactFlight, SourceFlight
from flightdeck.sources.flights.transform_sql import POST_EXTRACT, POST_TRANSFORM, SqlTransform, require_staging_columns
from flightdeck.warehouse.enrichment import count_without_weather, weather_enrichment_columns, weather_join

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
    """Copy the partition's source rows into its raw staging table; returns the row count.

    A day without any source rows is refused as not delivered yet (transient) unless the pipeline
    allows empty partitions.
    """
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


# Scratch table of the raw rows the SQL checks reject, by ctid; dropped when the transform commits.
_REJECTS_TABLE = sql.Identifier("pg_temp", "flights_transform_rejects")


def _require_one_aircraft_version(conn: Any) -> None:
    """Fail unless each tail number has at most one aircraft version per day (the join needs one)."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT a.tailnum, a.valid_from, a.valid_to, b.valid_from, b.valid_to FROM {aircraft} a "
                "JOIN {aircraft} b ON b.tailnum = a.tailnum AND b.aircraft_key > a.aircraft_key "
                "AND b.valid_from < a.valid_to AND a.valid_from < b.valid_to "
                "WHERE a.aircraft_key >= 0 AND b.aircraft_key >= 0 LIMIT 1"
            ).format(aircraft=qualified("core.dim_aircraft"))
        )
        overlap = cur.fetchone()
    if overlap is not None:
        raise PermanentPipelineError(
            f"core.dim_aircraft has overlapping versions of tailnum {overlap[0]} ([{overlap[1]}, {overlap[2]}) and "
            f"[{overlap[3]}, {overlap[4]})): a flight must find one version; fix the dimension's history"
        )


def _disagreement(row: Mapping[str, Any], ctid: object, what: str, detail: str) -> PermanentPipelineError:
    return PermanentPipelineError(
        f"the SQL checks and the Pydantic models disagree on flight_id {row.get('flight_id')} (raw staging row "
        f"{ctid}): {what} ({detail}); a rule's SQL counterpart in schemas/flights.py or schemas/types.py is wrong: "
        "fix it instead of loading this partition"
    )


def _failed_checks(conn: Any, query: sql.Composed, params: Mapping[str, object], ctid: object) -> str:
    with conn.cursor() as cur:
        cur.execute(query, {**params, "raw_ctid": ctid})
        found = cur.fetchone()
    return "failed SQL checks: " + (", ".join(found[0]) if found and found[0] else "none")


def _explain_rejects(conn: Any, plan: SqlTransform, chunk_rows: int) -> list[Rejection]:
    """The models' own reasons for the rows the SQL checks rejected, read chunk by chunk.

    Each row is validated again by Pydantic, which writes the rejection (field and reason). A row the
    models accept after all, or a row the source checks passed that SourceFlight rejects, means the
    SQL and the models disagree: the stage fails, naming the row, rather than choose between them.
    """
    params = plan.params()
    rejections: list[Rejection] = []
    refs_by_day: dict[dt.date, ReferenceLookup] = {}
    for stage in (POST_EXTRACT, POST_TRANSFORM):
        query = sql.SQL(
            "SELECT r.ctid, r.* FROM {} r JOIN {} j ON j.raw_ctid = r.ctid WHERE j.stage = %s "
            "ORDER BY r.flight_id, r.ctid"
        ).format(plan.raw, plan.rejects)
        for chunk in read_chunks(conn, query, [stage], chunk_rows):
            for row in chunk:
                ctid = row.pop("ctid")
                if stage == POST_EXTRACT:
                    accepted, rejected = validate_records([row], SourceFlight, stage, {"timezone": plan.timezone})
                    if accepted:
                        failed = _failed_checks(conn, plan.failed_source_checks(), params, ctid)
                        raise _disagreement(row, ctid, "SourceFlight accepts a row the SQL checks reject", failed)
                else:
                    day = dt.date(int(row["year"]), int(row["month"]), int(row["day"]))
                    refs = refs_by_day.get(day) or refs_by_day.setdefault(day, reference_lookup(conn, day))
                    facts, rejected = validate_and_transform([row], refs, plan.timezone)
                    if facts:
                        failed = _failed_checks(conn, plan.failed_fact_checks(), params, ctid)
                        raise _disagreement(row, ctid, "FactFlight accepts a fact the SQL checks reject", failed)
                    if rejected[0].stage != stage:
                        raise _disagreement(
                            row, ctid, "SourceFlight rejects a row the SQL checks accept", rejected[0].reason
                        )
                rejections.extend(rejected)
    return rejections


def _transform_in_warehouse(conn: Any, plan: SqlTransform, chunk_rows: int) -> tuple[int, list[Rejection]]:
    """Run the set-based transform of one partition; returns (rows in clean staging, rejections).

    PostgreSQL checks and transforms every row; only the rejected rows come back to Python (to be
    explained by the models). The facts FactFlight rejects are rare (none in 2013): they are found by
    a second pass only when clean staging is short of the rows that passed the source checks.
    """
    _require_one_aircraft_version(conn)
    params = plan.params()
    with conn.cursor() as cur:
        # Compiling these wide expressions costs more than JIT saves at any partition size.
        cur.execute("SET LOCAL jit = off")
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(plan.raw))
        total = int(str((cur.fetchone() or (0,))[0]))
        cur.execute(plan.reject_sources(), params)
        source_rejects = cur.rowcount
        cur.execute(plan.insert_facts(), params)
        valid = cur.rowcount
        fact_rejects = 0
        if valid < total - source_rejects:
            cur.execute(plan.reject_facts(), params)
            fact_rejects = cur.rowcount
    if valid + source_rejects + fact_rejects != total:
        raise PermanentPipelineError(
            f"the SQL transform accounts for {valid} clean and {source_rejects + fact_rejects} rejected rows "
            f"of {total} raw rows"
        )
    rejections = _explain_rejects(conn, plan, chunk_rows)
    if len(rejections) != source_rejects + fact_rejects:
        raise PermanentPipelineError(
            f"{source_rejects + fact_rejects} rows were rejected but {len(rejections)} explained"
        )
    return valid, rejections


def transform(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> tuple[int, int]:
    """Validate raw staging, transform it into clean staging; returns (valid, rejected).

    Set-based, inside the warehouse (transformers/flights_sql.py): the same rows as
    validate_and_transform, at PostgreSQL's speed; only rejected rows pass through Python.
    """
    cfg = project.pipeline(partition.pipeline)
    raw = partition.staging_table(project.staging_schema, "raw")
    clean = partition.staging_table(project.staging_schema, "clean")
    require_staging_columns(dict(SOURCE_COLUMNS), dict(fact_staging_columns()))
    plan = SqlTransform(raw=raw, clean=clean, rejects=_REJECTS_TABLE, fact_columns=FACT_COLUMNS, timezone=cfg.timezone)
    with stage_log("transform", partition.log_context()) as counts, connect(endpoints.warehouse) as wh:
        create_staging_table(wh, clean, fact_staging_columns())
        valid, all_rejections = _transform_in_warehouse(wh, plan, cfg.chunk_rows)
        audit.replace_rejections(wh, partition, EXTRACT_STAGES, all_rejections)
        counts.records_in = valid + len(all_rejections)
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


@dataclass(frozen=True)
class ReplayBatch:
    """Rejected records that pass now: their fact rows and the rejections they came from."""

    facts: list[dict[str, Any]]
    rejected_ids: list[int]
    replay_id: str


def load(endpoints: Endpoints, project: ProjectConfig, partition: Partition, replay: ReplayBatch | None = None) -> int:
    """Pre-load checks, then replace the partition in one transaction; returns rows loaded.

    With a replay batch, its facts join clean staging and its rejections are marked replayed in that
    same transaction: they are loaded and marked together, or (when the load fails) neither.
    """
    cfg = project.pipeline(partition.pipeline)
    clean = partition.staging_table(project.staging_schema, "clean")
    with stage_log("load", partition.log_context()) as counts, connect(endpoints.warehouse) as wh:
        if replay is not None:
            copy_records(wh, clean, FACT_COLUMNS, replay.facts)
            audit.mark_replayed(wh, replay.rejected_ids, replay.replay_id)
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
        replaced = replace_partition(
            wh,
            qualified(cfg.target.table),
            clean,
            FACT_COLUMNS,
            cfg.target.key,
            cfg.target.partition_column,
            partition.start,
            partition.end,
            partition.run_id,
            preload.excluded_ctids,
            enrichment=Enrichment(weather_enrichment_columns("w"), weather_join("s", "w")),
        )
        inserted = replaced.rows
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


def primary_key_is(conn: Any, table: str, key: Sequence[str]) -> bool:
    """Whether the table's primary key is exactly these columns (so they are unique and not null)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
            "WHERE c.conrelid = to_regclass(%s) AND c.contype = 'p'",
            (table,),
        )
        row = cur.fetchone()
    return bool(row and row[0] and sorted(str(name) for name in row[0]) == sorted(key))


def count_key_problems(
    conn: Any, target: sql.Identifier, key: Sequence[str], in_partition: sql.Composed, window: tuple[object, ...]
) -> tuple[int, int]:
    """(keys occurring more than once, rows with a null key column) in the partition."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} GROUP BY {} HAVING count(*) > 1) d").format(
                target, in_partition, column_list(key)
            ),
            window,
        )
        duplicates = int(str((cur.fetchone() or (0,))[0]))
        null_keys = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(k)) for k in key)
        cur.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE ({}) AND ({})").format(target, in_partition, null_keys), window
        )
        nulls = int(str((cur.fetchone() or (0,))[0]))
    return duplicates, nulls


def check_partition(warehouse: URL, target_cfg: TargetConfig, partition: Partition) -> Mapping[str, int]:
    """check for any pipeline's target table: extracted = loaded + rejected, keys unique and not null."""
    target = qualified(target_cfg.table)
    pcol = sql.Identifier(target_cfg.partition_column)
    in_partition = sql.SQL("{} >= %s AND {} < %s").format(pcol, pcol)
    window = (partition.start, partition.end)
    with stage_log("check", partition.log_context()) as counts, connect(warehouse) as wh:
        run = audit.run_row(wh, partition) or {}
        extracted = int(run.get("extracted") or 0)
        removed = int(run.get("duplicates") or 0)
        rejected = audit.count_rejections(wh, partition)
        enforced = primary_key_is(wh, target_cfg.table, target_cfg.key)
        with wh.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(target, in_partition), window)
            loaded = int(str((cur.fetchone() or (0,))[0]))
        duplicates = nulls = 0
        # The table's primary key already guarantees unique, non-null keys: counting them again costs a
        # full aggregate of the partition and can only find 0. Without that constraint, count.
        if not enforced:
            duplicates, nulls = count_key_problems(wh, target, target_cfg.key, in_partition, window)
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

    For rules or rejected payloads fixed since the run. Passing records go through the normal load of
    the partition's latest run, which adds them to clean staging and marks them replayed in its own
    transaction (so a failed load leaves them rejected, ready for the next replay); then the check
    runs. Running it again finds nothing new to replay and changes nothing.
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
        counts.records_out = len(passed)
        counts.rejected = len(still)
    if passed:
        replay_id = f"replay__{dt.datetime.now(dt.UTC).isoformat()}"
        load(endpoints, project, partition, ReplayBatch(facts, passed, replay_id))
        check(endpoints, project, partition)
    return ReplayResult(replayed=len(passed), still_rejected=len(still))


def default_partition(pipeline: str, day: dt.date, dag_id: str = "manual", run_id: str = "manual") -> Partition:
    return Partition(pipeline, day, day + dt.timedelta(days=1), dag_id, run_id)
