"""Replace one partition of a fact table atomically, after set-based pre-load checks.

Readers see either the old partition or the new one, never a mix: the delete and insert run in
one transaction, serialised per partition by an advisory lock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg import sql

from flightdeck.extractors.postgres import column_list
from flightdeck.validation import Rejection

Conn = psycopg.Connection[tuple[object, ...]]


@dataclass(frozen=True)
class PreloadResult:
    """What the pre-load checks found in clean staging."""

    rejections: list[Rejection]
    excluded_ctids: list[str]  # rejected rows and removed duplicates: left out of the load
    duplicates: int  # exact copies of a kept row (same natural key, same values): removed, not errors


def preload_rejections(
    conn: Conn,
    staging: sql.Identifier,
    key: Sequence[str],
    partition_column: str,
    start: dt.date,
    end: dt.date,
    order_column: str,
    content_columns: Sequence[str],
) -> PreloadResult:
    """Find rows the target would refuse (null key, outside the partition, duplicate key).

    Of rows sharing a natural key the first by `order_column` is kept. A later row whose
    `content_columns` equal the kept row's is a duplicate delivery: removed and counted. One that
    differs is a conflicting record: rejected. Staging itself is not modified, so a rerun of the
    load finds the same result.
    """
    keys = column_list(key)
    null_key = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(k)) for k in key)
    pcol = sql.Identifier(partition_column)
    content = sql.SQL("md5(row({})::text)").format(column_list(content_columns))
    ranked = sql.SQL(
        "SELECT ctid AS row_ctid, *, {content} AS row_hash, "
        "row_number() OVER (PARTITION BY {keys} ORDER BY {order}) AS dup_rank, "
        "first_value({content}) OVER (PARTITION BY {keys} ORDER BY {order}) AS kept_hash "
        "FROM {staging}"
    ).format(content=content, keys=keys, order=sql.Identifier(order_column), staging=staging)
    query = sql.SQL(
        "SELECT row_ctid, to_jsonb(s) AS raw, CASE "
        " WHEN {null_key} THEN 'a natural-key column is null' "
        " WHEN {pcol} IS NULL OR {pcol} < %(start)s OR {pcol} >= %(end)s THEN 'outside the partition' "
        " WHEN row_hash = kept_hash THEN NULL "
        " ELSE 'duplicate natural key with different values (' || {key_text} || ')' END AS reason "
        "FROM ({ranked}) AS s "
        "WHERE {null_key} OR {pcol} IS NULL OR {pcol} < %(start)s OR {pcol} >= %(end)s OR dup_rank > 1"
    ).format(
        null_key=null_key,
        pcol=pcol,
        key_text=sql.SQL(" || ', ' || ").join(sql.SQL("{}::text").format(sql.Identifier(k)) for k in key),
        ranked=ranked,
    )
    with conn.cursor() as cur:
        cur.execute(query, {"start": start, "end": end})
        found = cur.fetchall()
    rejections: list[Rejection] = []
    duplicates = 0
    for _, raw, reason in found:
        if reason is None:
            duplicates += 1
            continue
        record: dict[str, Any] = cast("dict[str, Any]", raw) if isinstance(raw, dict) else json.loads(str(raw))
        for helper in ("dup_rank", "row_ctid", "row_hash", "kept_hash"):
            record.pop(helper, None)
        rejections.append(Rejection(stage="pre_load", field=",".join(key), reason=str(reason), raw=record))
    return PreloadResult(rejections, [str(row[0]) for row in found], duplicates)


def partition_lock_key(table: str, day: dt.date) -> str:
    """The advisory lock of one day of a table: whoever rewrites that day's rows holds it."""
    return f"flightdeck:{table}:{day.isoformat()}"


@dataclass(frozen=True)
class Enrichment:
    """Columns a load adds from other tables: `targets` = `values`, with `joins` on the staging alias s."""

    targets: sql.Composable
    values: sql.Composable
    joins: sql.Composable


def replace_partition(
    conn: Conn,
    target: sql.Identifier,
    staging: sql.Identifier,
    columns: Sequence[str],
    partition_column: str,
    start: dt.date,
    end: dt.date,
    run_id: str,
    exclude_ctids: Sequence[str] = (),
    enrichment: Enrichment | None = None,
) -> tuple[int, int]:
    """Delete the partition's rows and insert the staged ones but `exclude_ctids`; returns (deleted, inserted)."""
    pcol = sql.Identifier(partition_column)
    staged = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(name)) for name in columns)
    targets: sql.Composable = column_list(columns)
    joins: sql.Composable = sql.SQL("")
    if enrichment is not None:
        targets = sql.SQL("{}, {}").format(targets, enrichment.targets)
        staged = sql.SQL("{}, {}").format(staged, enrichment.values)
        joins = enrichment.joins
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (partition_lock_key(target.as_string(conn), start),))
        cur.execute(sql.SQL("DELETE FROM {} WHERE {} >= %s AND {} < %s").format(target, pcol, pcol), (start, end))
        deleted = cur.rowcount
        cur.execute(
            sql.SQL("INSERT INTO {} ({}, run_id) SELECT {}, %s FROM {} AS s {} WHERE s.ctid <> ALL(%s::tid[])").format(
                target, targets, staged, staging, joins
            ),
            (run_id, list(exclude_ctids)),
        )
        inserted = cur.rowcount
    return deleted, inserted
