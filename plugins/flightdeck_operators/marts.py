"""The marts operator: rebuild marts.daily_route_performance for the days its run was told about.

An asset-triggered run reads the triggering asset events (each names the partition its producer
replaced); a manual run may give conf {"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"} (inclusive) to
backfill. Both together: the union. Events that name no day (a producer that changed nothing): the run
succeeds and rebuilds nothing. Neither events nor conf: a permanent error, since no days were given.
Errors are sorted as in stages.py: permanent ones fail at once, transient ones are retried.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from flightdeck import catalog
from flightdeck.core.connections import postgres_url
from flightdeck.core.errors import describe, is_transient
from flightdeck.core.logs import get_logger
from flightdeck.marts import daily_route_performance as marts


def trigger_events(context: Any) -> list[marts.TriggerEvent]:
    """The run's triggering asset events (context["triggering_asset_events"]) as the mart sees them."""
    accessor: Mapping[Any, Sequence[Any]] = context.get("triggering_asset_events") or {}
    events: list[marts.TriggerEvent] = []
    for key in accessor:
        for event in accessor[key]:
            producer = getattr(event, "source_dag_id", None)
            source = (
                f"{producer}/{getattr(event, 'source_run_id', None)}/{getattr(event, 'source_task_id', None)}"
                if producer
                else f"no producing task (created at {getattr(event, 'timestamp', '?')})"
            )
            extra = getattr(event, "extra", None)
            events.append(marts.TriggerEvent(asset=str(event.asset.uri), source=source, extra=extra))
    return events


def days_to_rebuild(context: Any) -> list[dt.date]:
    """Affected days from the triggering events plus a manual run's conf, sorted and distinct.

    Events that name no day (a reference drop that re-pointed no fact) give none: the run then has
    nothing to rebuild and succeeds. A run with neither events nor conf is a mistake (a manual run
    without its days): a permanent error that says how to give them.
    """
    conf: dict[str, Any] = dict(getattr(context.get("dag_run"), "conf", None) or {})
    events = trigger_events(context)
    days = set(marts.affected_days(events))
    days.update(marts.days_from_conf(conf))
    if not days and not events:
        raise marts.PermanentPipelineError(
            'nothing to rebuild: no triggering asset events and no conf; trigger marts with conf {"start": '
            '"YYYY-MM-DD", "end": "YYYY-MM-DD"} to backfill'
        )
    return sorted(days)


class RebuildDailyRoutePerformanceOperator(BaseOperator):
    """Rebuild marts.daily_route_performance for the run's affected days (one transaction)."""

    ui_color = "#f3eafb"

    def __init__(self, *, asset: Asset | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("do_xcom_push", False)
        if asset is not None:
            # The mart itself, for lineage: its event lists the days rebuilt.
            kwargs["outlets"] = [*kwargs.get("outlets", ()), asset]
        super().__init__(**kwargs)  # pyright: ignore[reportUnknownMemberType]
        self.outlet_asset = asset

    def execute(self, context: Any) -> None:
        try:
            days = days_to_rebuild(context)
            if not days:
                get_logger("flightdeck.marts").info(
                    "nothing to rebuild: the triggering asset events name no changed day",
                    extra={"event": "mart_unchanged", "dag_id": context["dag"].dag_id},
                )
                return
            project = catalog.project_config()
            warehouse = postgres_url(project.warehouse_conn_id)
            catalog.ensure_warehouse(warehouse, project.staging_schema)
            marts.rebuild_daily_route_performance(
                warehouse,
                days,
                run_id=str(context["run_id"]),
                log_context={"dag_id": context["dag"].dag_id},
            )
            if self.outlet_asset is not None:
                context["outlet_events"][self.outlet_asset].extra = {"days": [day.isoformat() for day in days]}
        except AirflowFailException:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise
            raise AirflowFailException(f"{type(exc).__name__}: {describe(exc)}") from exc
