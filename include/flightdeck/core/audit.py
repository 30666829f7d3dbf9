"""audit.load_runs (one row per pipeline, partition and run) and audit.rejected_records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from psycopg import sql

from flightdeck.core.compose import Connection, count
from flightdeck.core.partition import Partition
from flightdeck.core.staging import copy_records
from flightdeck.core.validation import Rejection

RUN_COLUMNS = frozenset(
    {
        "status",
        "extracted",
        "valid",
        "rejected",
        "loaded",
        "duplicates",
        "extract_s",
        "transform_s",
        "load_s",
        "check_s",
        "error",
        "without_weather",
    }
)
REJECTED = sql.Identifier("audit", "rejected_records")
REJECT_COLUMNS = ("pipeline", "partition_date", "run_id", "stage", "field", "reason", "raw")


def record_run(conn: Connection, partition: Partition, **values: Any) -> None:
    """Upsert this run's audit row, setting only the given columns (a rerun overwrites them)."""
    unknown = set(values) - RUN_COLUMNS
    if unknown:
        raise ValueError(f"not audit.load_runs columns: {sorted(unknown)}")
    names = sorted(values)
    insert_cols = ["pipeline", "partition_date", "run_id", "dag_id", *names]
    updates: list[sql.Composable] = [sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name in names]
    updates.append(sql.SQL("updated_at = now()"))
    statement = sql.SQL(
        "INSERT INTO audit.load_runs ({}) VALUES ({}) ON CONFLICT (pipeline, partition_date, run_id) DO UPDATE SET {}"
    ).format(
        sql.SQL(", ").join(sql.Identifier(c) for c in insert_cols),
        sql.SQL(", ").join(sql.Placeholder() * len(insert_cols)),
        sql.SQL(", ").join(updates),
    )
    params = [partition.pipeline, partition.key, partition.run_id, partition.dag_id]
    params.extend(values[name] for name in names)
    with conn.cursor() as cur:
        cur.execute(statement, params)


def record_extracted(conn: Connection, partition: Partition, extracted: int, seconds: float) -> None:
    """A (re)extract starts the run's counts afresh: later stages' counts and the last error go."""
    record_run(
        conn,
        partition,
        status="running",
        extracted=extracted,
        extract_s=seconds,
        valid=None,
        rejected=None,
        loaded=None,
        duplicates=None,
        error=None,
    )


def record_transformed(conn: Connection, partition: Partition, valid: int, rejected: int, seconds: float) -> None:
    record_run(conn, partition, status="running", error=None, valid=valid, rejected=rejected, transform_s=seconds)


def record_loaded(
    conn: Connection, partition: Partition, loaded: int, rejected: int, duplicates: int, seconds: float
) -> None:
    record_run(
        conn,
        partition,
        status="running",
        error=None,
        loaded=loaded,
        rejected=rejected,
        duplicates=duplicates,
        load_s=seconds,
    )


def latest_run(conn: Connection, pipeline: str, partition_date: object) -> tuple[str, str] | None:
    """(dag_id, run_id) of the partition's most recent run, if any."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT dag_id, run_id FROM audit.load_runs WHERE pipeline = %s AND partition_date = %s "
            "ORDER BY updated_at DESC LIMIT 1",
            (pipeline, partition_date),
        )
        row = cur.fetchone()
    return (str(row[0]), str(row[1])) if row else None


def pending_rejections(
    conn: Connection, partition: Partition, stages: Sequence[str]
) -> list[tuple[int, str, dict[str, Any]]]:
    """(rejected_id, stage, raw record) of the partition's rejections in these stages not yet replayed."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT rejected_id, stage, raw FROM audit.rejected_records WHERE pipeline = %s "
            "AND partition_date = %s AND stage = ANY(%s) AND replayed_at IS NULL ORDER BY rejected_id",
            (partition.pipeline, partition.key, list(stages)),
        )
        return [(int(str(rid)), str(stage), cast("dict[str, Any]", raw)) for rid, stage, raw in cur.fetchall()]


def mark_replayed(conn: Connection, rejected_ids: Sequence[int], replay_id: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE audit.rejected_records SET replayed_at = now(), replay_id = %s WHERE rejected_id = ANY(%s)",
            (replay_id, list(rejected_ids)),
        )


def refresh_rejections(conn: Connection, updates: Sequence[tuple[int, Rejection]]) -> int:
    """Rewrite stored rejections (stage, field, reason, raw) as found now; returns the rows that changed.

    For a replay that re-read the records from the source: the error table then shows each record as
    the source holds it and why it fails now. Rows already as given are left untouched.
    """
    changed = 0
    with conn.cursor() as cur:
        for rejected_id, rejection in updates:
            cur.execute(
                "UPDATE audit.rejected_records SET stage = %s, field = %s, reason = %s, raw = %s::jsonb "
                "WHERE rejected_id = %s AND (stage, field, reason, raw) IS DISTINCT FROM (%s, %s, %s, %s::jsonb)",
                (
                    rejection.stage,
                    rejection.field,
                    rejection.reason,
                    rejection.raw_json(),
                    rejected_id,
                    rejection.stage,
                    rejection.field,
                    rejection.reason,
                    rejection.raw_json(),
                ),
            )
            changed += cur.rowcount
    return changed


def run_row(conn: Connection, partition: Partition) -> dict[str, Any] | None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT extracted, valid, rejected, loaded, duplicates, status FROM audit.load_runs "
            "WHERE pipeline = %s AND partition_date = %s AND run_id = %s",
            (partition.pipeline, partition.key, partition.run_id),
        )
        row = cur.fetchone()
        if row is None:
            return None
        names = [d.name for d in cur.description or ()]
    return dict(zip(names, row, strict=True))


def replace_rejections(
    conn: Connection, partition: Partition, stages: Sequence[str], rejections: Iterable[Rejection]
) -> int:
    """Replace the partition's rejections of these stages: reruns never grow the error table."""
    clear_rejections(conn, partition, stages)
    return write_rejections(conn, partition, rejections)


def clear_rejections(conn: Connection, partition: Partition, stages: Sequence[str]) -> None:
    """Delete the partition's rejections of these stages (before writing a run's afresh)."""
    with conn.cursor() as cur:
        cur.execute(
            "DELETE FROM audit.rejected_records WHERE pipeline = %s AND partition_date = %s AND stage = ANY(%s)",
            (partition.pipeline, partition.key, list(stages)),
        )


def write_rejections(conn: Connection, partition: Partition, rejections: Iterable[Rejection]) -> int:
    """COPY rejections into audit.rejected_records as they come; returns how many were written.

    Streams: an iterable (or one chunk of a larger set) is written without being collected first,
    so a caller writing chunk by chunk holds one chunk at a time whatever the partition's rejects.
    """
    return copy_records(
        conn,
        REJECTED,
        REJECT_COLUMNS,
        (
            {
                "pipeline": partition.pipeline,
                "partition_date": partition.key,
                "run_id": partition.run_id,
                "stage": rejection.stage,
                "field": rejection.field,
                "reason": rejection.reason,
                "raw": rejection.raw_json(),
            }
            for rejection in rejections
        ),
    )


def count_rejections(conn: Connection, partition: Partition) -> int:
    """The partition's records that stand rejected (replayed ones were loaded after all)."""
    return count(
        conn,
        "SELECT count(*) FROM audit.rejected_records WHERE pipeline = %s AND partition_date = %s "
        "AND replayed_at IS NULL",
        (partition.pipeline, partition.key),
    )


def count_open_rejections(conn: Connection, partition: Partition, stages: Sequence[str]) -> int:
    """The partition's standing rejections of these stages."""
    return count(
        conn,
        "SELECT count(*) FROM audit.rejected_records WHERE pipeline = %s AND partition_date = %s "
        "AND stage = ANY(%s) AND replayed_at IS NULL",
        (partition.pipeline, partition.key, list(stages)),
    )


def mark_status(
    conn: Connection, partition: Partition, status: str, error: str, only_if_status: str | None = None
) -> None:
    """Record a stage failure ('retrying' or 'failed') on the run's audit row.

    A later successful attempt overwrites it. With only_if_status, change nothing unless the row
    is in that status (a final failure must not overwrite what check recorded).
    """
    if only_if_status is not None:
        current = run_row(conn, partition)
        if current is None or current.get("status") != only_if_status:
            return
    record_run(conn, partition, status=status, error=error)
