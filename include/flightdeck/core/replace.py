"""Load a partition: pre-load checks, the reject-share guard, and the atomic replace of its rows.

Readers see either the old partition or the new one, never a mix: the delete and insert run in
one transaction, serialised per partition by an advisory lock. The replace writes only the
difference: rows of the partition that are not exactly among the staged ones are deleted, staged
rows not already there are inserted. A first load is a plain insert; a rerun of an unchanged
partition writes nothing (no dead tuples, no index churn), and ends in the same rows either way.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from psycopg import sql

from flightdeck.core import audit
from flightdeck.core.compose import Connection, column_list, count, qualified
from flightdeck.core.config import TargetConfig
from flightdeck.core.errors import PermanentPipelineError, ReconciliationError
from flightdeck.core.partition import Partition
from flightdeck.core.validation import Rejection


@dataclass(frozen=True)
class PreloadResult:
    """What the pre-load checks found in clean staging."""

    rejections: list[Rejection]
    excluded_ctids: list[str]  # rejected rows and removed duplicates: left out of the load
    duplicates: int  # exact copies of a kept row (same natural key, same values): removed, not errors


def preload_rejections(
    conn: Connection,
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
    # Rank (and hash) only the rows that can be refused: a key that occurs more than once (found by
    # one hash aggregate), a null key or a row outside the partition. Clean rows pass untouched.
    ranked = sql.SQL(
        "SELECT ctid AS row_ctid, *, {content} AS row_hash, "
        "row_number() OVER (PARTITION BY {keys} ORDER BY {order}) AS dup_rank, "
        "first_value({content}) OVER (PARTITION BY {keys} ORDER BY {order}) AS kept_hash "
        "FROM {staging} WHERE {null_key} OR {pcol} IS NULL OR {pcol} < %(start)s OR {pcol} >= %(end)s "
        "OR ({keys}) IN (SELECT {keys} FROM {staging} GROUP BY {keys} HAVING count(*) > 1)"
    ).format(
        content=content,
        keys=keys,
        order=sql.Identifier(order_column),
        staging=staging,
        null_key=null_key,
        pcol=pcol,
    )
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
    """Columns a load adds from other tables: target column -> expression, with `joins` on the staging alias s."""

    columns: dict[str, sql.Composable]
    joins: sql.Composable


@dataclass(frozen=True)
class ReplaceResult:
    deleted: int  # rows of the partition that were not among the staged ones (or differed)
    inserted: int  # staged rows that were not already there
    rows: int  # rows the partition holds now: every staged row but the excluded ones


def replace_partition(
    conn: Connection,
    target: sql.Identifier,
    staging: sql.Identifier,
    columns: Sequence[str],
    key: Sequence[str],
    partition_column: str,
    start: dt.date,
    end: dt.date,
    run_id: str,
    exclude_ctids: Sequence[str] = (),
    enrichment: Enrichment | None = None,
) -> ReplaceResult:
    """Make the partition hold exactly the staged rows but `exclude_ctids` (plus the enrichment).

    Set-based statements in the caller's transaction. An empty partition gets a plain insert.
    Otherwise: delete the partition's rows that are not exactly wanted (matched on the key, compared
    on every column), then insert the wanted rows whose key the partition no longer holds. `run_id`
    is written on inserted rows only: it names the run that last wrote a row. Keys must be unique in
    the staged rows (the pre-load checks see to it).
    """
    pcol = sql.Identifier(partition_column)
    staged = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(name)) for name in columns)
    targets: sql.Composable = column_list(columns)
    joins: sql.Composable = sql.SQL("")
    names = list(columns)
    if enrichment is not None:
        targets = sql.SQL("{}, {}").format(targets, column_list(list(enrichment.columns)))
        staged = sql.SQL("{}, {}").format(
            staged,
            sql.SQL(", ").join(
                sql.SQL("{} AS {}").format(value, sql.Identifier(name)) for name, value in enrichment.columns.items()
            ),
        )
        joins = enrichment.joins
        names += list(enrichment.columns)
    wanted = sql.SQL("SELECT {} FROM {} AS s {} WHERE s.ctid <> ALL(%(excluded)s::tid[])").format(
        staged, staging, joins
    )
    fmt: dict[str, sql.Composable] = {
        "target": target,
        "targets": targets,
        "wanted": wanted,
        "same_key": sql.SQL(" AND ").join(sql.SQL("w.{0} = t.{0}").format(sql.Identifier(k)) for k in key),
        "same_row": sql.SQL("({}) IS NOT DISTINCT FROM ({})").format(
            sql.SQL(", ").join(sql.SQL("w.{}").format(sql.Identifier(n)) for n in names),
            sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(n)) for n in names),
        ),
        "wanted_names": sql.SQL(", ").join(sql.SQL("w.{}").format(sql.Identifier(n)) for n in names),
        "in_partition": sql.SQL("t.{pcol} >= %(start)s AND t.{pcol} < %(end)s").format(pcol=pcol),
    }
    params = {"start": start, "end": end, "excluded": list(exclude_ctids), "run_id": run_id}
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (partition_lock_key(target.as_string(conn), start),))
        wanted_rows = count(
            conn, sql.SQL("SELECT count(*) FROM {} WHERE ctid <> ALL(%(excluded)s::tid[])").format(staging), params
        )
        existing = count(conn, sql.SQL("SELECT count(*) FROM {target} AS t WHERE {in_partition}").format(**fmt), params)
        if not existing:
            # A first load (or a day emptied earlier): nothing to compare against, a plain insert.
            cur.execute(
                sql.SQL(
                    "INSERT INTO {target} ({targets}, run_id) SELECT {wanted_names}, %(run_id)s FROM ({wanted}) AS w"
                ).format(**fmt),
                params,
            )
            inserted, deleted = cur.rowcount, 0
        else:
            # The anti-joins below must be hash or merge joins: a nested loop whose inner side is the
            # table being inserted into rescans its growing heap per row (quadratic), which the planner
            # picks when its statistics say the target or staging is small. Scoped to these statements.
            cur.execute("SELECT current_setting('enable_nestloop'), set_config('enable_nestloop', 'off', true)")
            nestloop = str((cur.fetchone() or ("on",))[0])
            cur.execute(
                sql.SQL(
                    "DELETE FROM {target} AS t WHERE {in_partition} "
                    "AND NOT EXISTS (SELECT 1 FROM ({wanted}) AS w WHERE {same_key} AND {same_row})"
                ).format(**fmt),
                params,
            )
            deleted = cur.rowcount
            # Every row the delete kept equals one wanted row, keys being unique on both sides: when as
            # many rows remain as are wanted, all of them are there and the insert's anti-join (as dear
            # as the delete's) would find nothing. The usual case of a rerun of an unchanged day.
            inserted = 0
            if existing - deleted != wanted_rows:
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {target} ({targets}, run_id) SELECT {wanted_names}, %(run_id)s "
                        "FROM ({wanted}) AS w WHERE NOT EXISTS (SELECT 1 FROM {target} AS t "
                        "WHERE {in_partition} AND {same_key})"
                    ).format(**fmt),
                    params,
                )
                inserted = cur.rowcount
            # Restored for the rest of the caller's transaction (a failure rolls the setting back anyway).
            cur.execute("SELECT set_config('enable_nestloop', %s, true)", (nestloop,))
    return ReplaceResult(deleted, inserted, wanted_rows)


# The stages whose rejections come before the load: with clean staging they account for every extracted row.
EXTRACT_STAGES = ("post_extract", "post_transform")


def require_complete_staging(
    conn: Connection,
    clean: sql.Identifier,
    partition: Partition,
    extracted: int,
    stages: Sequence[str] = EXTRACT_STAGES,
) -> None:
    """Clean staging plus earlier rejections must account for every extracted row.

    Staging tables are UNLOGGED: a database crash empties them. Loading then would replace the
    partition with nothing, so refuse and say how to recover.
    """
    staged = count(conn, sql.SQL("SELECT count(*) FROM {}").format(clean))
    rejected = audit.count_open_rejections(conn, partition, stages)
    if staged + rejected != extracted:
        raise PermanentPipelineError(
            f"clean staging holds {staged} rows and {rejected} were rejected, but {extracted} were extracted: "
            "staging is stale or was lost; clear the run from the extract task"
        )


def require_reject_share(rejected: int, total: int, max_share: float, what: str, consequence: str) -> None:
    """Refuse a partition (or file) whose rejected share is above the configured max_reject_share."""
    if total and rejected / total > max_share:
        raise ReconciliationError(
            f"{what}: {rejected:,} of {total:,} records rejected ({rejected / total:.1%}), above the configured "
            f"max_reject_share {max_share:.1%}: {consequence}; see audit.rejected_records for the reasons"
        )


@dataclass(frozen=True)
class PartitionLoad:
    """How a pipeline's clean staging becomes its target's partition."""

    target: TargetConfig
    columns: Sequence[str]  # the target's columns, as clean staging holds them
    order_column: str  # of rows sharing a key, the first by this column is kept
    content_columns: Sequence[str]  # compared to tell a duplicate delivery from a conflicting record
    enrichment: Enrichment | None = None


@dataclass(frozen=True)
class LoadOutcome:
    loaded: int  # rows the partition holds now
    preload_rejected: int  # rows the pre-load checks rejected now
    rejected: int  # every standing rejection of the partition (all stages)
    duplicates: int  # exact duplicate deliveries removed
    extracted: int


def load_partition(
    conn: Connection, partition: Partition, clean: sql.Identifier, spec: PartitionLoad, max_reject_share: float
) -> LoadOutcome:
    """Pre-load checks, the reject-share guard, then replace the partition: all in the caller's transaction."""
    run = audit.run_row(conn, partition) or {}
    extracted = int(run.get("extracted") or 0)
    require_complete_staging(conn, clean, partition, extracted)
    preload = preload_rejections(
        conn,
        clean,
        spec.target.key,
        spec.target.partition_column,
        partition.start,
        partition.end,
        order_column=spec.order_column,
        content_columns=spec.content_columns,
    )
    audit.replace_rejections(conn, partition, ["pre_load"], preload.rejections)
    rejected = audit.count_rejections(conn, partition)
    require_reject_share(
        rejected, extracted, max_reject_share, f"{partition.pipeline} {partition.start}", "the partition was not loaded"
    )
    replaced = replace_partition(
        conn,
        qualified(spec.target.table),
        clean,
        spec.columns,
        spec.target.key,
        spec.target.partition_column,
        partition.start,
        partition.end,
        partition.run_id,
        preload.excluded_ctids,
        enrichment=spec.enrichment,
    )
    return LoadOutcome(replaced.rows, len(preload.rejections), rejected, preload.duplicates, extracted)
