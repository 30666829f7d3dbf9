"""Transform: validate raw staging, build clean staging (fact rows), reject what fails with its reason.

Set-based inside the warehouse (transform_sql.py): PostgreSQL checks and transforms every row with
the SQL twins of the models' rules; only rejected rows come back to Python, where the Pydantic models
themselves explain them (and a disagreement between the two fails the stage). validate_and_transform
is the row-by-row specification the SQL is tested against, and what a replay of rejects uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, LiteralString

from psycopg import sql
from pydantic import ValidationError

from flightdeck.core import audit
from flightdeck.core.compose import Connection, count, qualified
from flightdeck.core.db import connect
from flightdeck.core.dimensions import lookup, versions_on
from flightdeck.core.errors import PermanentPipelineError
from flightdeck.core.logs import stage_log
from flightdeck.core.replace import EXTRACT_STAGES
from flightdeck.core.stage import StageContext
from flightdeck.core.staging import create_staging_table, read_chunks
from flightdeck.core.validation import Rejection, explain, validate_records
from flightdeck.sources.flights.config import FlightsConfig
from flightdeck.sources.flights.extract import SOURCE_COLUMNS
from flightdeck.sources.flights.facts import ReferenceLookup, to_fact, zone
from flightdeck.sources.flights.schemas import FactFlight, SourceFlight
from flightdeck.sources.flights.transform_sql import POST_EXTRACT, POST_TRANSFORM, SqlTransform, require_staging_columns

FACT_COLUMNS: tuple[str, ...] = tuple(FactFlight.model_fields)


def reference_lookup(conn: Connection, day: dt.date | None = None) -> ReferenceLookup:
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
        f"{ctid}): {what} ({detail}); a rule's SQL counterpart in sources/flights/schemas.py or "
        "warehouse/types.py is wrong: fix it instead of loading this partition"
    )


def _failed_checks(conn: Any, query: sql.Composed, params: Mapping[str, object], ctid: object) -> str:
    with conn.cursor() as cur:
        cur.execute(query, {**params, "raw_ctid": ctid})
        found = cur.fetchone()
    return "failed SQL checks: " + (", ".join(found[0]) if found and found[0] else "none")


# Takes one chunk's rejections and writes them (audit.write_rejections); returns how many it wrote.
RejectionWriter = Callable[[Sequence[Rejection]], int]


def _explain_rejects(conn: Any, plan: SqlTransform, chunk_rows: int, write: RejectionWriter) -> int:
    """The models' own reasons for the rows the SQL checks rejected, read and written chunk by chunk.

    Each row is validated again by Pydantic, which writes the rejection (field and reason). A row the
    models accept after all, or a row the source checks passed that SourceFlight rejects, means the
    SQL and the models disagree: the stage fails, naming the row, rather than choose between them.
    Each chunk's rejections go to `write` before the next chunk is read: memory holds one chunk of
    rows and rejections whatever the number of rejects (a day whose every row is invalid included).
    Returns how many rejections were written.
    """
    params = plan.params()
    written = 0
    refs_by_day: dict[dt.date, ReferenceLookup] = {}
    for stage in (POST_EXTRACT, POST_TRANSFORM):
        query = sql.SQL(
            "SELECT r.ctid, r.* FROM {} r JOIN {} j ON j.raw_ctid = r.ctid WHERE j.stage = %s "
            "ORDER BY r.flight_id, r.ctid"
        ).format(plan.raw, plan.rejects)
        for chunk in read_chunks(conn, query, [stage], chunk_rows):
            rejections: list[Rejection] = []
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
            written += write(rejections)
    return written


def _transform_in_warehouse(conn: Any, plan: SqlTransform, chunk_rows: int, write: RejectionWriter) -> tuple[int, int]:
    """Run the set-based transform of one partition; returns (rows in clean staging, rows rejected).

    PostgreSQL checks and transforms every row; only the rejected rows come back to Python (to be
    explained by the models, and handed to `write` chunk by chunk). The facts FactFlight rejects are
    rare (none in 2013): they are found by a second pass only when clean staging is short of the rows
    that passed the source checks.
    """
    _require_one_aircraft_version(conn)
    params = plan.params()
    with conn.cursor() as cur:
        # Compiling these wide expressions costs more than JIT saves at any partition size.
        cur.execute("SET LOCAL jit = off")
        total = count(conn, sql.SQL("SELECT count(*) FROM {}").format(plan.raw))
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
    explained = _explain_rejects(conn, plan, chunk_rows, write)
    if explained != source_rejects + fact_rejects:
        raise PermanentPipelineError(f"{source_rejects + fact_rejects} rows were rejected but {explained} explained")
    return valid, explained


def transform(ctx: StageContext[FlightsConfig]) -> tuple[int, int]:
    """Validate raw staging, transform it into clean staging; returns (valid, rejected).

    Set-based, inside the warehouse (transform_sql.py): the same rows as
    validate_and_transform, at PostgreSQL's speed; only rejected rows pass through Python, a chunk
    at a time: their rejections are written to audit.rejected_records as each chunk is explained, so
    a day rejected wholesale costs no more memory than a valid one. Whether the rejected share is
    acceptable is the load's decision (load_partition's guard counts the pre-load rejects too).
    """
    cfg, partition = ctx.settings, ctx.partition
    raw = ctx.staging_table("raw")
    clean = ctx.staging_table("clean")
    require_staging_columns(dict(SOURCE_COLUMNS), dict(fact_staging_columns()))
    plan = SqlTransform(raw=raw, clean=clean, rejects=_REJECTS_TABLE, fact_columns=FACT_COLUMNS, timezone=cfg.timezone)
    with stage_log("transform", partition.log_context()) as counts, connect(ctx.warehouse) as wh:
        create_staging_table(wh, clean, fact_staging_columns())
        # A rerun replaces the partition's earlier rejections of these stages (same transaction).
        audit.clear_rejections(wh, partition, EXTRACT_STAGES)

        def write(rejections: Sequence[Rejection]) -> int:
            return audit.write_rejections(wh, partition, rejections)

        valid, rejected = _transform_in_warehouse(wh, plan, cfg.chunk_rows, write)
        counts.records_in = valid + rejected
        counts.records_out = valid
        counts.rejected = rejected
    with connect(ctx.warehouse) as wh:
        audit.record_transformed(wh, partition, valid, rejected, counts.duration_s)
    return valid, rejected


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
