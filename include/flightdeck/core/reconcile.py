"""Reconciliation, the last stage of every partition pipeline: extracted = loaded + rejected + duplicates.

It also checks the partition's keys (unique, not null) unless the table's primary key guarantees
them, runs the pipeline's own reconciliation if it has one (for example weather: every hour of the
day accounted for), and marks the run's audit row a success or a failure with the reasons.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.core import audit
from flightdeck.core.compose import Connection, column_list, count, qualified, scalar
from flightdeck.core.config import TargetConfig
from flightdeck.core.db import connect
from flightdeck.core.errors import ReconciliationError
from flightdeck.core.logs import stage_log
from flightdeck.core.partition import Partition
from flightdeck.core.stage import StageContext


def primary_key_is(conn: Connection, table: str, key: Sequence[str]) -> bool:
    """Whether the table's primary key is exactly these columns (so they are unique and not null)."""
    names = cast(
        "list[str] | None",
        scalar(
            conn,
            "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
            "WHERE c.conrelid = to_regclass(%s) AND c.contype = 'p'",
            (table,),
        ),
    )
    return bool(names) and sorted(names or ()) == sorted(key)


def count_key_problems(
    conn: Connection, target: sql.Identifier, key: Sequence[str], in_partition: sql.Composed, window: tuple[object, ...]
) -> tuple[int, int]:
    """(keys occurring more than once, rows with a null key column) in the partition."""
    duplicates = count(
        conn,
        sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} GROUP BY {} HAVING count(*) > 1) d").format(
            target, in_partition, column_list(key)
        ),
        window,
    )
    null_keys = sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(sql.Identifier(k)) for k in key)
    nulls = count(
        conn, sql.SQL("SELECT count(*) FROM {} WHERE ({}) AND ({})").format(target, in_partition, null_keys), window
    )
    return duplicates, nulls


@dataclass(frozen=True)
class Findings:
    """What a pipeline's own reconciliation found: counts (logged and returned) and the problems that fail the run."""

    counts: Mapping[str, int]
    problems: Sequence[str] = field(default=())


# A pipeline's own reconciliation, run by check_partition on its connection after the generic counts.
MoreChecks = Callable[[Connection], Findings]


def check_partition(
    warehouse: URL, target_cfg: TargetConfig, partition: Partition, more: MoreChecks | None = None
) -> Mapping[str, int]:
    """check for any pipeline's target table: extracted = loaded + rejected, keys unique and not null.

    `more` adds the pipeline's own counts and problems; any problem fails the run like the generic ones.
    """
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
        loaded = count(wh, sql.SQL("SELECT count(*) FROM {} WHERE {}").format(target, in_partition), window)
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
        found = more(wh) if more is not None else Findings({})
        result.update(found.counts)
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
        problems.extend(found.problems)
    with connect(warehouse) as wh:
        if problems:
            audit.record_run(wh, partition, status="failed", error="; ".join(problems), check_s=counts.duration_s)
        else:
            audit.record_run(wh, partition, status="success", error=None, check_s=counts.duration_s)
    if problems:
        raise ReconciliationError(f"partition {partition.start} failed its checks: " + "; ".join(problems))
    return result


class LoadsPartitions(Protocol):
    """Settings of a pipeline that loads a partitioned target table."""

    @property
    def target(self) -> TargetConfig: ...


def check(ctx: StageContext[LoadsPartitions]) -> Mapping[str, int]:
    """The check stage of every partition pipeline: reconcile counts and keys, fail the run if off."""
    return check_partition(ctx.warehouse, ctx.settings.target, ctx.partition)
