"""One operator per pipeline stage; each builds the run's partition and calls flightdeck.sources.flights.pipeline.

Errors are sorted once here, for everything the task does (configuration, connections and the
stage itself): permanent ones become AirflowFailException (no retry; the message says what to
fix) and mark the run 'failed'; transient ones mark it 'retrying' and propagate, so that Airflow's
retries with exponential backoff apply. When the retries run out, the failure callback marks the
run 'failed'. Nothing is pushed to XCom: data moves through the partition's staging tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from flightdeck.core.config import ProjectConfig, project_config
from flightdeck.core.connections import postgres_url
from flightdeck.core.errors import ReconciliationError, describe, is_transient
from flightdeck.core.logs import get_logger
from flightdeck.core.partition import Partition, local_days
from flightdeck.sources.flights import pipeline
from flightdeck.sources.flights.pipeline import Endpoints

StageFunction = Callable[[Endpoints, ProjectConfig, Partition], object]


def partition_from_context(pipeline_name: str, timezone: str, context: Any) -> Partition:
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if start is None or end is None:
        raise AirflowFailException("this task needs a data interval: schedule the DAG with an interval timetable")
    first, last = local_days(start, end, timezone)
    return Partition(pipeline_name, first, last, context["dag"].dag_id, context["run_id"])


def resolve(
    pipeline_name: str, context: Any, source_conn_id: str | None = None
) -> tuple[ProjectConfig, Partition, Endpoints]:
    """The configuration, the run's partition and the database URLs for a task of a pipeline."""
    project = project_config()
    cfg = project.pipeline(pipeline_name)
    partition = partition_from_context(pipeline_name, cfg.timezone, context)
    endpoints = Endpoints(
        source=postgres_url(source_conn_id or cfg.source.conn_id), warehouse=postgres_url(project.warehouse_conn_id)
    )
    return project, partition, endpoints


def partition_extra(partition: Partition) -> dict[str, str | None]:
    """What an asset event says about the partition a stage replaced: local days, end exclusive."""
    return {"partition_start": partition.start.isoformat(), "partition_end": partition.end.isoformat()}


class _StageOperator(BaseOperator):
    """Runs one stage of a configured pipeline for the DAG run's data interval."""

    ui_color = "#e8f1fb"
    stage: ClassVar[StageFunction]
    # The check stage writes its own reasons to the audit row before it raises.
    records_own_failure: ClassVar[bool] = False

    def __init__(self, *, pipeline_name: str, asset: Asset | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("do_xcom_push", False)
        if asset is not None:
            # The table this stage writes: declared as an outlet, its event names the partition replaced.
            kwargs["outlets"] = [*kwargs.get("outlets", ()), asset]
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType]
        self.pipeline_name = pipeline_name
        self.outlet_asset = asset

    def source_conn_id(self, project: ProjectConfig) -> str:
        return project.pipeline(self.pipeline_name).source.conn_id

    def resolve(self, context: Any) -> tuple[ProjectConfig, Partition, Endpoints]:
        project = project_config()
        return resolve(self.pipeline_name, context, self.source_conn_id(project))

    def asset_extra(self, partition: Partition, result: object) -> dict[str, str | None]:
        """What the outlet asset's event says: by default, the partition the stage replaced."""
        return partition_extra(partition)

    def execute(self, context: Any) -> None:
        resolved: tuple[ProjectConfig, Partition, Endpoints] | None = None
        try:
            resolved = self.resolve(context)
            result = type(self).stage(resolved[2], resolved[0], resolved[1])
            if self.outlet_asset is not None:
                context["outlet_events"][self.outlet_asset].extra = self.asset_extra(resolved[1], result)
        except AirflowFailException:
            raise
        except Exception as exc:
            staging = resolved[0].staging_schema if resolved else None
            message = f"{type(exc).__name__}: {describe(exc, staging_schema=staging)}"
            transient = is_transient(exc)
            # check records its own reasons; everything else is recorded here.
            if resolved and not (self.records_own_failure and isinstance(exc, ReconciliationError)):
                _record(resolved[2], resolved[1], "retrying" if transient else "failed", message)
            if transient:
                raise
            raise AirflowFailException(message) from exc

    def record_final_failure(self, context: Any) -> None:
        """Called by the failure callback once retries are exhausted: the run did not load."""
        try:
            _, partition, endpoints = self.resolve(context)
        except Exception:
            return
        exception = context.get("exception")
        first_line = str(exception).splitlines()[0] if exception and str(exception) else "task failed"
        detail = f"{type(exception).__name__}: {first_line}" if exception else first_line
        _record(endpoints, partition, "failed", detail, only_if_status="retrying")


def record_failure(pipeline_name: str, context: Any, message: str) -> None:
    """Mark the run's audit row failed from any task of a pipeline's DAG (best effort)."""
    try:
        _, partition, endpoints = resolve(pipeline_name, context)
    except Exception:
        return
    _record(endpoints, partition, "failed", message)


def _record(
    endpoints: Endpoints, partition: Partition, status: str, message: str, only_if_status: str | None = None
) -> None:
    """Best effort: the warehouse itself may be what failed."""
    try:
        pipeline.mark_status(endpoints.warehouse, partition, status, message, only_if_status=only_if_status)
    except Exception as exc:
        get_logger("flightdeck.core.audit").warning(
            "could not record the failure in audit.load_runs",
            extra={"event": "audit_unavailable", "error": type(exc).__name__, **partition.log_context()},
        )


class ExtractToStagingOperator(_StageOperator):
    """Copy the partition's source rows into its raw staging table (COPY both ways)."""

    stage = staticmethod(pipeline.extract)


class ValidateTransformOperator(_StageOperator):
    """Validate raw staging against the source schema and build clean staging; reject bad rows."""

    stage = staticmethod(pipeline.transform)


class PartitionLoadOperator(_StageOperator):
    """Pre-load checks, then replace the partition of the fact table in one transaction."""

    stage = staticmethod(pipeline.load)


class ReconcileOperator(_StageOperator):
    """Fail the run unless extracted = loaded + rejected, keys unique and not null."""

    stage = staticmethod(pipeline.check)
    records_own_failure = True
