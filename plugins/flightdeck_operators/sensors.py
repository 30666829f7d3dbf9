"""Waiting for a partition's source data: a sensor that frees the worker between looks.

A day the source has not delivered yet is a wait, not an error. PartitionReadySensor asks the
pipeline's `ready` check (flightdeck.core.stage.Pipeline.ready) every `wait.poke_interval_s` seconds
in reschedule mode (the worker slot is released in between) and fails after `wait.timeout_s`, saying
what it waited for. A fault of the check itself is no wait: a permanent one (an unknown database, a
bad request) fails at once, a transient one (the source unreachable) gets the task's retries. A failure
(permanent, or the wait timed out) is recorded on the run's audit.load_runs row, as a stage's would be.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from flightdeck import catalog
from flightdeck.core.errors import describe, is_transient
from flightdeck.core.logs import get_logger
from flightdeck_operators.stages import record, resolve, resolve_pipeline


class PartitionReadySensor(BaseSensorOperator):
    """Succeeds once the run's partition can be extracted; fails after the pipeline's wait.timeout_s."""

    ui_color = "#fff7e6"

    def __init__(self, *, pipeline: str, **kwargs: Any) -> None:
        bound = catalog.pipeline(catalog.project_config(), pipeline)
        if bound.pipeline.ready is None:
            raise ValueError(f"pipeline {pipeline} has no ready check: its source data is always there")
        wait = bound.settings.wait
        kwargs.setdefault("mode", "reschedule")
        kwargs.setdefault("timeout", wait.timeout_s)
        kwargs.setdefault("poke_interval", wait.poke_interval_s)
        kwargs.setdefault("do_xcom_push", False)
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType]
        self.pipeline_name = pipeline
        self.waiting_for: str | None = None

    def poke(self, context: Any) -> bool:
        bound, ctx = resolve_pipeline(self.pipeline_name, context)
        ready = bound.pipeline.ready
        assert ready is not None
        log = get_logger("flightdeck.wait")
        try:
            self.waiting_for = ready(ctx)
        except Exception as exc:
            # An unreachable source is not a day not delivered yet: sorted like a stage's error, so that
            # a permanent one fails now and a transient one gets the task's retries, not hours of waiting.
            message = f"{type(exc).__name__}: {describe(exc, staging_schema=ctx.staging_schema)}"
            if is_transient(exc):
                record(ctx, "retrying", message)
                raise
            record(ctx, "failed", message)
            raise AirflowFailException(message) from exc
        if self.waiting_for is None:
            return True
        log.info(
            f"waiting for {self.waiting_for}",
            extra={"event": "waiting", "waiting_for": self.waiting_for, **ctx.partition.log_context()},
        )
        return False

    def execute(self, context: Any) -> Any:
        try:
            return super().execute(context)  # pyright: ignore[reportUnknownMemberType]
        except AirflowSensorTimeout as exc:
            message = (
                f"gave up waiting for {self.waiting_for} after the configured {self.timeout:.0f} s "
                f"({self.pipeline_name}.wait.timeout_s)"
            )
            record(resolve(self.pipeline_name, context), "failed", f"AirflowSensorTimeout: {message}")
            raise AirflowSensorTimeout(f"{message}; {exc}") from exc
