"""Post-load data-quality checks from config/, on common-sql's standard check operators.

Both check only the run's partition (a templated partition clause over the data interval, in
the pipeline's zone) and pass quietly on an empty day, which has nothing to check. A failed
check fails the task, and with it the run.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.sql.operators.sql import (  # pyright: ignore[reportMissingTypeStubs]
    SQLColumnCheckOperator,
    SQLTableCheckOperator,
)
from airflow.sdk import BaseOperator
from psycopg import sql

from flightdeck.core.compose import count, qualified
from flightdeck.core.config import PartitionedSettings
from flightdeck.core.db import connect
from flightdeck.core.logs import get_logger
from flightdeck_operators.stages import record_failure, resolve


def partition_clause(cfg: PartitionedSettings) -> str:
    """The WHERE clause of the run's days, rendered by Airflow (Jinja) from the data interval."""
    # {{{{ }}}} are the Jinja braces, escaped once for sql.SQL's own format.
    clause = sql.SQL(
        "{column} >= '{{{{ data_interval_start.in_timezone({zone}).to_date_string() }}}}' "
        "AND {column} < '{{{{ data_interval_end.in_timezone({zone}).to_date_string() }}}}'"
    ).format(column=sql.Identifier(cfg.target.partition_column), zone=sql.Literal(cfg.timezone))
    return clause.as_string(None)


class _PartitionCheck(BaseOperator):
    """Mixin for the check operators: count the partition's rows first (an empty day has nothing to
    check) and record failures. A BaseOperator itself, so that Airflow wraps its __init__.

    A failed check is a data problem, not a transient one: it fails at once (retry_on_failure
    False) and the run's audit row is marked failed with the check's output.
    """

    pipeline_name: str
    target_table: str

    def __init__(self, *, pipeline_name: str, table: str, **kwargs: Any) -> None:
        quoted = qualified(table).as_string(None)
        super().__init__(retry_on_failure=False, table=quoted, **kwargs)  # pyright: ignore[reportCallIssue, reportUnknownMemberType]
        self.pipeline_name = pipeline_name
        self.target_table = table

    def record_final_failure(self, context: Any) -> None:
        exception = context.get("exception")
        text = str(exception or "")
        marker = "The following tests have failed:"
        if marker in text:
            # The operators' message ends with the failed checks; the query and results before it are noise.
            message = f"data-quality check failed: {' '.join(text.rsplit(marker, 1)[-1].split())[:500]}"
        else:
            first_line = text.splitlines()[0] if text else "task failed"
            message = f"{type(exception).__name__ if exception else 'Error'}: {first_line}"
        record_failure(self.pipeline_name, context, message)

    def execute(self, context: Any) -> None:
        ctx = resolve(self.pipeline_name, context)
        settings: PartitionedSettings = ctx.settings
        column = sql.Identifier(settings.target.partition_column)
        query = sql.SQL("SELECT count(*) FROM {} WHERE {} >= %s AND {} < %s").format(
            qualified(self.target_table), column, column
        )
        with connect(ctx.warehouse) as conn:
            rows = count(conn, query, (ctx.partition.start, ctx.partition.end))
        if rows == 0:
            get_logger("flightdeck.quality").info(
                "no rows to check", extra={"event": "quality_skipped_empty", "table": self.target_table}
            )
            return
        super().execute(context)  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]


class PartitionColumnCheckOperator(_PartitionCheck, SQLColumnCheckOperator):
    """Column checks (null, min, max, ...) on the run's partition of the target."""


class PartitionTableCheckOperator(_PartitionCheck, SQLTableCheckOperator):
    """Boolean table checks that every row of the run's partition must satisfy."""


def quality_check_tasks(pipeline_name: str, cfg: PartitionedSettings, conn_id: str) -> list[Any]:
    """The configured column and table checks of a pipeline's target, as two tasks (or none)."""
    checks = cfg.quality_checks
    clause = partition_clause(cfg)
    tasks: list[Any] = []
    if checks.column_checks:
        tasks.append(
            PartitionColumnCheckOperator(
                task_id="quality_column_checks",
                pipeline_name=pipeline_name,
                conn_id=conn_id,
                table=cfg.target.table,
                column_mapping={
                    column: {check: dict(bounds) for check, bounds in column_checks.items()}
                    for column, column_checks in checks.column_checks.items()
                },
                partition_clause=clause,
                do_xcom_push=False,
            )
        )
    if checks.table_checks:
        tasks.append(
            PartitionTableCheckOperator(
                task_id="quality_table_checks",
                pipeline_name=pipeline_name,
                conn_id=conn_id,
                table=cfg.target.table,
                checks={name: {"check_statement": statement} for name, statement in checks.table_checks.items()},
                partition_clause=clause,
                do_xcom_push=False,
            )
        )
    return tasks
