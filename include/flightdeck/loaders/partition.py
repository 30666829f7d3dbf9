"""Replace one partition of a fact table atomically, after set-based pre-load checks.

Readers see either the old partition or the new one, never a mix: the delete and insert run in
one transaction, serialised per partition by an advisory lock.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, cast

import psycopg
from psycopg import sql

from flightdeck.extractors.postgres import column_list
from flightdeck.validation import Rejection

Conn = psycopg.Connection[tuple[object, ...]]


def preload_rejections(
    conn: Conn,
    staging: sql.Identifier,
    key: Sequence[str],
    partition_column: str,
    start: dt.date,
    end: dt.date,
    order_column: str,
) -> tuple[list[Rejection], list[str]]:
    """Find rows the target would refuse (null key, outside the partition, duplicate key).

    Of rows sharing a natural key the first by `order_column` is kept; the others are rejected.
    Returns the rejections and the staging rows' ctids to leave out of the load. Staging itself
    is not modified, so a rerun of the load finds the same rejections.
    """
    keys = column_list(key)
    null_key = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(k)) for k in key)
    pcol = sql.Identifier(partition_column)
    query = sql.SQL(
        "SELECT row_ctid, to_jsonb(s) AS raw, CASE "
        " WHEN {null_key} THEN 'a natural-key column is null' "
        " WHEN {pcol} IS NULL OR {pcol} < %(start)s OR {pcol} >= %(end)s THEN 'outside the partition' "
        " ELSE 'duplicate natural key (' || {key_text} || ')' END AS reason "
        "FROM (SELECT ctid AS row_ctid, *, row_number() OVER (PARTITION BY {keys} ORDER BY {order}) AS dup_rank "
        "      FROM {staging}) AS s "
        "WHERE {null_key} OR {pcol} IS NULL OR {pcol} < %(start)s OR {pcol} >= %(end)s OR dup_rank > 1"
    ).format(
        null_key=null_key,
        pcol=pcol,
        keys=keys,
        key_text=sql.SQL(" || ', ' || ").join(sql.SQL("{}::text").format(sql.Identifier(k)) for k in key),
        order=sql.Identifier(order_column),
        staging=staging,
    )
    with conn.cursor() as cur:
        cur.execute(query, {"start": start, "end": end})
        found = cur.fetchall()
    rejections: list[Rejection] = []
    for _, raw, reason in found:
        record: dict[str, Any] = cast("dict[str, Any]", raw) if isinstance(raw, dict) else json.loads(str(raw))
        record.pop("dup_rank", None)
        record.pop("row_ctid", None)
        rejections.append(Rejection(stage="pre_load", field=",".join(key), reason=str(reason), raw=record))
    return rejections, [str(row[0]) for row in found]


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
) -> tuple[int, int]:
    """Delete the partition's rows and insert the staged ones but `exclude_ctids`; returns (deleted, inserted)."""
    pcol = sql.Identifier(partition_column)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))",
            (f"flightdeck:{target.as_string(conn)}:{start.isoformat()}",),
        )
        cur.execute(sql.SQL("DELETE FROM {} WHERE {} >= %s AND {} < %s").format(target, pcol, pcol), (start, end))
        deleted = cur.rowcount
        cur.execute(
            sql.SQL("INSERT INTO {} ({}, run_id) SELECT {}, %s FROM {} WHERE ctid <> ALL(%s::tid[])").format(
                target, column_list(columns), column_list(columns), staging
            ),
            (run_id, list(exclude_ctids)),
        )
        inserted = cur.rowcount
    return deleted, inserted
