"""One operator per pipeline stage; each builds the run's partition and calls flightdeck.pipeline.

Errors are sorted once here: permanent ones become AirflowFailException (no retry, the message
says what to fix); transient ones propagate so that Airflow's retries with backoff apply.
Nothing is pushed to XCom: data moves through the partition's staging tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from flightdeck import pipeline
from flightdeck.config import ProjectConfig, project_config
from flightdeck.connections import postgres_url
from flightdeck.errors import describe, is_transient
from flightdeck.logs import get_logger
from flightdeck.partition import Partition, local_days
from flightdeck.pipeline import Endpoints

StageFunction = Callable[[Endpoints, ProjectConfig, Partition], object]


def endpoints_for(source_conn_id: str, warehouse_conn_id: str) -> Endpoints:
    """Resolve Airflow connections (environment, secrets backend or UI) to database URLs."""
    return Endpoints(source=postgres_url(source_conn_id), warehouse=postgres_url(warehouse_conn_id))


def partition_from_context(pipeline_name: str, timezone: str, context: Any) -> Partition:
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if start is None or end is None:
        raise AirflowFailException("this task needs a data interval: schedule the DAG with an interval timetable")
    first, last = local_days(start, end, timezone)
    return Partition(pipeline_name, first, last, context["dag"].dag_id, context["run_id"])


class _PartitionStageOperator(BaseOperator):
    """Runs one stage of a configured pipeline for the DAG run's data interval."""

    ui_color = "#e8f1fb"
    stage: ClassVar[StageFunction]

    def __init__(self, *, pipeline_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("do_xcom_push", False)
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType]
        self.pipeline_name = pipeline_name

    def execute(self, context: Any) -> None:
        project = project_config()
        cfg = project.pipeline(self.pipeline_name)
        partition = partition_from_context(self.pipeline_name, cfg.timezone, context)
        endpoints = endpoints_for(cfg.source.conn_id, project.warehouse_conn_id)
        run_stage(type(self).stage, endpoints, project, partition)


def run_stage(stage: StageFunction, endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> None:
    try:
        stage(endpoints, project, partition)
    except Exception as exc:
        message = f"{type(exc).__name__}: {describe(exc)}"
        _record_failure(endpoints, partition, message)
        if is_transient(exc):
            raise
        raise AirflowFailException(message) from exc


def _record_failure(endpoints: Endpoints, partition: Partition, message: str) -> None:
    """Best effort: the warehouse itself may be what failed."""
    try:
        pipeline.mark_failed(endpoints.warehouse, partition, message)
    except Exception as exc:
        get_logger("flightdeck.audit").warning(
            "could not record the failure in audit.load_runs",
            extra={"event": "audit_unavailable", "error": type(exc).__name__, **partition.log_context()},
        )


class ExtractToStagingOperator(_PartitionStageOperator):
    """Copy the partition's source rows into its raw staging table (COPY both ways)."""

    stage = staticmethod(pipeline.extract)


class ValidateTransformOperator(_PartitionStageOperator):
    """Validate raw staging against the source schema and build clean staging; reject bad rows."""

    stage = staticmethod(pipeline.transform)


class PartitionLoadOperator(_PartitionStageOperator):
    """Pre-load checks, then replace the partition of the fact table in one transaction."""

    stage = staticmethod(pipeline.load)


class ReconcileOperator(_PartitionStageOperator):
    """Fail the run unless extracted = loaded + rejected, keys unique and not null."""

    stage = staticmethod(pipeline.check)


class ReferenceSyncOperator(BaseOperator):
    """Upsert the reference dimensions (airports, carriers, aircraft) from the source system."""

    ui_color = "#eef7ea"

    def __init__(self, *, pipeline_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("do_xcom_push", False)
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType]
        self.pipeline_name = pipeline_name

    def execute(self, context: Any) -> None:
        project = project_config()
        cfg = project.pipeline(self.pipeline_name)
        partition = partition_from_context(self.pipeline_name, cfg.timezone, context)
        endpoints = endpoints_for(project.reference.conn_id, project.warehouse_conn_id)

        def sync(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> object:
            return pipeline.sync_reference(endpoints, project.reference, project.staging_schema, partition)

        run_stage(sync, endpoints, project, partition)
