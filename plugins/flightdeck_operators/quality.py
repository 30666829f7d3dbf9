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

from flightdeck.core.config import PipelineConfig
from flightdeck.core.logs import get_logger
from flightdeck_operators.stages import record_failure


def partition_clause(cfg: PipelineConfig) -> str:
    """The WHERE clause of the run's days, rendered by Airflow from the data interval."""
    column = cfg.target.partition_column
    zone = cfg.timezone
    return (
        f"{column} >= '{{{{ data_interval_start.in_timezone('{zone}').to_date_string() }}}}' "
        f"AND {column} < '{{{{ data_interval_end.in_timezone('{zone}').to_date_string() }}}}'"
    )


class _SkipEmptyPartition:
    """Mixin: count the partition's rows first; an empty day has nothing to check.

    A failed check is a data problem, not a transient one: it fails at once (retry_on_failure
    False) and the run's audit row is marked failed with the check's output.
    """

    table: str
    partition_clause: str | None
    pipeline_name: str

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

    def _partition_is_empty(self, hook: Any) -> bool:
        where = (self.partition_clause or "").removeprefix("WHERE ").strip() or "true"
        row = hook.get_first(f"SELECT count(*) FROM {self.table} WHERE {where}")
        if row and int(row[0]) == 0:
            get_logger("flightdeck.quality").info(
                "no rows to check", extra={"event": "quality_skipped_empty", "table": self.table}
            )
            return True
        return False


class PartitionColumnCheckOperator(_SkipEmptyPartition, SQLColumnCheckOperator):
    def __init__(self, *, pipeline_name: str, **kwargs: Any) -> None:
        super().__init__(retry_on_failure=False, **kwargs)  # pyright: ignore[reportUnknownMemberType]
        self.pipeline_name = pipeline_name

    def execute(self, context: Any) -> None:
        if not self._partition_is_empty(self.get_db_hook()):  # pyright: ignore[reportUnknownMemberType]
            super().execute(context)  # pyright: ignore[reportUnknownMemberType]


class PartitionTableCheckOperator(_SkipEmptyPartition, SQLTableCheckOperator):
    def __init__(self, *, pipeline_name: str, **kwargs: Any) -> None:
        super().__init__(retry_on_failure=False, **kwargs)  # pyright: ignore[reportUnknownMemberType]
        self.pipeline_name = pipeline_name

    def execute(self, context: Any) -> None:
        if not self._partition_is_empty(self.get_db_hook()):  # pyright: ignore[reportUnknownMemberType]
            super().execute(context)  # pyright: ignore[reportUnknownMemberType]


def quality_check_tasks(pipeline_name: str, cfg: PipelineConfig, conn_id: str) -> list[Any]:
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
