"""Task callbacks that turn failures and retries into one structured alert line each."""

from __future__ import annotations

from typing import Any

from flightdeck.logs import get_logger


def _alert(kind: str, context: Any) -> None:
    ti = context.get("ti") or context.get("task_instance")
    exception = context.get("exception")
    get_logger("flightdeck.alert").error(
        f"task {kind}",
        extra={
            "event": f"task_{kind}",
            "alert": True,
            "dag_id": getattr(ti, "dag_id", None),
            "task_id": getattr(ti, "task_id", None),
            "run_id": getattr(ti, "run_id", None),
            "try_number": getattr(ti, "try_number", None),
            "error": type(exception).__name__ if exception else None,
            "detail": str(exception).splitlines()[0] if exception and str(exception) else None,
        },
    )


def alert_on_failure(context: Any) -> None:
    _alert("failed", context)
    task = context.get("task")
    record = getattr(task, "record_final_failure", None)
    if callable(record):
        record(context)


def alert_on_retry(context: Any) -> None:
    _alert("retrying", context)
