"""One operator for every stage of every pipeline: PipelineStageOperator(pipeline=..., stage=...).

It finds the pipeline in the catalog, builds the run's partition from the data interval (local days
of the pipeline's zone), applies any pending warehouse DDL, and calls the stage with its context.
Errors are sorted once here, for everything the task does (configuration, connections and the stage
itself): permanent ones become AirflowFailException (no retry; the message says what to fix) and
mark the run 'failed'; transient ones mark it 'retrying' and propagate, so that Airflow's retries
with exponential backoff apply. When the retries run out, the failure callback marks the run
'failed'. Nothing is pushed to XCom: data moves through the partition's staging tables.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from flightdeck import catalog
from flightdeck.core import audit
from flightdeck.core.connections import postgres_url
from flightdeck.core.db import connect
from flightdeck.core.errors import ReconciliationError, describe, is_transient
from flightdeck.core.logs import get_logger
from flightdeck.core.partition import Partition, local_days
from flightdeck.core.stage import Endpoints, StageContext, changed_window

# The stage whose failures record their own reasons on the audit row before they are raised.
RECONCILING_STAGE = "check"


def partition_from_context(pipeline_name: str, timezone: str, context: Any) -> Partition:
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if start is None or end is None:
        raise AirflowFailException("this task needs a data interval: schedule the DAG with an interval timetable")
    first, last = local_days(start, end, timezone)
    return Partition(pipeline_name, first, last, context["dag"].dag_id, context["run_id"])


def resolve_pipeline(pipeline_name: str, context: Any) -> tuple[catalog.BoundPipeline, StageContext[Any]]:
    """A pipeline's task: the pipeline, and its stage context (settings, the run's partition, connections)."""
    project = catalog.project_config()
    bound = catalog.pipeline(project, pipeline_name)
    partition = partition_from_context(bound.name, bound.timezone(), context)
    source = bound.source_conn_id()
    endpoints = Endpoints(
        warehouse=postgres_url(project.warehouse_conn_id), source=postgres_url(source) if source else None
    )
    return bound, StageContext(bound.settings, partition, endpoints, project.staging_schema)


def resolve(pipeline_name: str, context: Any) -> StageContext[Any]:
    """The configuration, the run's partition and the connections of a pipeline's task."""
    return resolve_pipeline(pipeline_name, context)[1]


def asset_extra(ctx: StageContext[Any], result: object) -> dict[str, str | None]:
    """What an asset event says: the local days the stage changed, end exclusive (null: none)."""
    window = changed_window(ctx.partition, result)
    if window is None:
        return {"partition_start": None, "partition_end": None}
    return {"partition_start": window[0].isoformat(), "partition_end": window[1].isoformat()}


class PipelineStageOperator(BaseOperator):
    """Runs one stage of a configured pipeline for the DAG run's data interval."""

    ui_color = "#e8f1fb"

    def __init__(self, *, pipeline: str, stage: str, asset: Asset | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("do_xcom_push", False)
        if asset is not None:
            # The table this stage writes: declared as an outlet, its event names the days it changed.
            kwargs["outlets"] = [*kwargs.get("outlets", ()), asset]
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType]
        # An unknown pipeline or stage fails the DAG's import, naming it.
        catalog.pipeline(catalog.project_config(), pipeline).pipeline.stage(stage)
        self.pipeline_name = pipeline
        self.stage_name = stage
        self.outlet_asset = asset

    def execute(self, context: Any) -> None:
        ctx: StageContext[Any] | None = None
        try:
            bound, ctx = resolve_pipeline(self.pipeline_name, context)
            catalog.ensure_warehouse(ctx.warehouse, ctx.staging_schema)
            result = bound.pipeline.stage(self.stage_name)(ctx)
            if self.outlet_asset is not None:
                context["outlet_events"][self.outlet_asset].extra = asset_extra(ctx, result)
        except AirflowFailException:
            raise
        except Exception as exc:
            message = f"{type(exc).__name__}: {describe(exc, staging_schema=ctx.staging_schema if ctx else None)}"
            transient = is_transient(exc)
            # check records its own reasons; everything else is recorded here.
            if ctx and not (self.stage_name == RECONCILING_STAGE and isinstance(exc, ReconciliationError)):
                record(ctx, "retrying" if transient else "failed", message)
            if transient:
                raise
            raise AirflowFailException(message) from exc

    def record_final_failure(self, context: Any) -> None:
        """Called by the failure callback once retries are exhausted: the run did not load."""
        record_failure(self.pipeline_name, context, only_if_status="retrying")


def record_failure(
    pipeline_name: str, context: Any, message: str | None = None, only_if_status: str | None = None
) -> None:
    """Mark the run's audit row failed from any task of a pipeline's DAG (best effort).

    Without a message, the failing task's exception in one line.
    """
    try:
        ctx = resolve(pipeline_name, context)
    except Exception:
        return
    if message is None:
        exception = context.get("exception")
        first_line = str(exception).splitlines()[0] if exception and str(exception) else "task failed"
        message = f"{type(exception).__name__}: {first_line}" if exception else first_line
    record(ctx, "failed", message, only_if_status=only_if_status)


def record(ctx: StageContext[Any], status: str, message: str, only_if_status: str | None = None) -> None:
    """Best effort: the warehouse itself may be what failed."""
    try:
        with connect(ctx.warehouse) as conn:
            audit.mark_status(conn, ctx.partition, status, message, only_if_status=only_if_status)
    except Exception as exc:
        get_logger("flightdeck.audit").warning(
            "could not record the failure in audit.load_runs",
            extra={"event": "audit_unavailable", "error": type(exc).__name__, **ctx.partition.log_context()},
        )
