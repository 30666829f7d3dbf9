"""Alerts: every task failure and retry becomes one structured alert.

Always a JSON log line (event task_failed / task_retrying, "alert": true). When the Airflow
connection `alerts_webhook` exists (an HTTP connection; its extra "endpoint" is the path), the
same payload is POSTed there by WebhookAlertNotifier, through the HTTP provider's hook. A channel
that is down never fails the task's callback: the delivery failure is logged instead.
"""

from __future__ import annotations

from typing import Any, cast

from airflow.sdk import BaseNotifier

from flightdeck.core.logs import get_logger

WEBHOOK_CONN_ID = "alerts_webhook"
DELIVERY_TIMEOUT_S = 10


def alert_payload(kind: str, context: Any) -> dict[str, Any]:
    """What an alert says: which task of which run, which try, and the error in one line."""
    ti = context.get("ti") or context.get("task_instance")
    exception = context.get("exception")
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    return {
        "event": f"task_{kind}",
        "alert": True,
        "dag_id": getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": getattr(ti, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "data_interval_start": start.isoformat() if start is not None else None,
        "data_interval_end": end.isoformat() if end is not None else None,
        "error": type(exception).__name__ if exception else None,
        "detail": str(exception).splitlines()[0] if exception and str(exception) else None,
    }


def _log_alert(kind: str, context: Any) -> None:
    payload = alert_payload(kind, context)
    get_logger("flightdeck.alert").error(f"task {kind}", extra=payload)


def alert_on_failure(context: Any) -> None:
    """Log the alert, and mark a run whose retries ran out as failed in audit.load_runs."""
    _log_alert("failed", context)
    record = getattr(context.get("task"), "record_final_failure", None)
    if callable(record):
        record(context)


def alert_on_retry(context: Any) -> None:
    _log_alert("retrying", context)


class WebhookAlertNotifier(BaseNotifier):
    """POST the alert payload to the `alerts_webhook` HTTP connection, if it is configured."""

    def __init__(self, kind: str, conn_id: str = WEBHOOK_CONN_ID) -> None:
        super().__init__()
        self.kind = kind
        self.conn_id = conn_id

    def notify(self, context: Any) -> None:
        from airflow.providers.http.hooks.http import HttpHook  # pyright: ignore[reportMissingTypeStubs]
        from airflow.sdk import BaseHook

        log = get_logger("flightdeck.alert")
        try:
            connection = BaseHook.get_connection(self.conn_id)
        except Exception:
            return
        extra = cast("dict[str, Any]", connection.extra_dejson)  # pyright: ignore[reportUnknownMemberType]
        payload = alert_payload(self.kind, context)
        try:
            hook = HttpHook(method="POST", http_conn_id=self.conn_id)
            hook.run(  # pyright: ignore[reportUnknownMemberType]
                endpoint=str(extra.get("endpoint", "")),
                json=payload,
                headers={"Content-Type": "application/json"},
                extra_options={"timeout": DELIVERY_TIMEOUT_S, "check_response": True},
            )
        except Exception as exc:
            log.warning(
                "alert delivery failed",
                extra={"event": "alert_undelivered", "channel": self.conn_id, "error": type(exc).__name__},
            )
