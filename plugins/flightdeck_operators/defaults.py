"""Task defaults every DAG of the project shares: owner, retries with exponential backoff, alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flightdeck_operators.alerts import WebhookAlertNotifier, alert_on_failure, alert_on_retry


def default_args() -> dict[str, Any]:
    """A fresh dict per DAG (Airflow may mutate it)."""
    return {
        "owner": "data-platform",
        "retries": 3,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=10),
        "execution_timeout": dt.timedelta(minutes=30),
        "on_failure_callback": [alert_on_failure, WebhookAlertNotifier(kind="failed")],
        "on_retry_callback": [alert_on_retry, WebhookAlertNotifier(kind="retrying")],
    }
