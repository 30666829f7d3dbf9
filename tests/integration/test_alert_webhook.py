"""Alerts reach a configured webhook through the HTTP provider; a broken channel never fails a task."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest

from flightdeck_operators.alerts import WebhookAlertNotifier, alert_payload
from tests.support_http import receiving_server


def failure_context() -> dict[str, object]:
    ti = SimpleNamespace(dag_id="flights_daily", task_id="load", run_id="scheduled__2013-01-01", try_number=4)
    return {
        "ti": ti,
        "exception": RuntimeError("partition 2013-01-01 failed its checks\nsecond line"),
        "data_interval_start": dt.datetime(2013, 1, 1, 5, tzinfo=dt.UTC),
        "data_interval_end": dt.datetime(2013, 1, 2, 5, tzinfo=dt.UTC),
    }


def webhook(port: int, endpoint: str = "/hooks/etl") -> str:
    return json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "extra": {"endpoint": endpoint}}
    )


def test_a_failure_is_posted_to_the_configured_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    with receiving_server() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_ALERTS_WEBHOOK", webhook(receiver.port))

        WebhookAlertNotifier(kind="failed").notify(failure_context())

    assert receiver.received == [("/hooks/etl", alert_payload("failed", failure_context()))]
    _, payload = receiver.received[0]
    assert payload["event"] == "task_failed"
    assert payload["detail"] == "partition 2013-01-01 failed its checks"
    assert payload["data_interval_start"] == "2013-01-01T05:00:00+00:00"


def test_without_a_webhook_connection_the_log_line_is_the_whole_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_ALERTS_WEBHOOK", raising=False)

    WebhookAlertNotifier(kind="failed").notify(failure_context())  # no exception, nothing sent


def test_a_failing_channel_does_not_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    with receiving_server(status=500) as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_ALERTS_WEBHOOK", webhook(receiver.port))

        WebhookAlertNotifier(kind="retrying").notify(failure_context())

    assert len(receiver.received) >= 1
