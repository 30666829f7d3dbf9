"""The operators sort every failure once and leave the run's audit row saying what happened."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pendulum
import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy.engine import URL

from flightdeck.catalog import project_config
from flightdeck.core.paths import PROJECT_ROOT
from flightdeck_operators import PipelineStageOperator
from tests.conftest import PgServer
from tests.support import scalar

CONTEXT = {
    "data_interval_start": pendulum.datetime(2013, 1, 1, tz="America/New_York"),
    "data_interval_end": pendulum.datetime(2013, 1, 2, tz="America/New_York"),
    "dag": SimpleNamespace(dag_id="flights_daily"),
    "run_id": "scheduled__2013-01-01T05:00:00+00:00",
}


def test_a_load_refused_for_too_many_rejects_fails_at_once_and_says_why(
    pg_server: PgServer,
    dirty_source: URL,
    warehouse_url: URL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "config" / "pipelines.yaml").read_text(encoding="utf-8"))
    config["pipelines"]["flights"]["max_reject_share"] = 0.001
    strict = tmp_path / "pipelines.yaml"
    strict.write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("FLIGHTDECK_CONFIG", str(strict))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", pg_server.connection_json(warehouse_url))
    monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_SOURCE", pg_server.connection_json(dirty_source))
    project_config.cache_clear()
    try:
        for stage in ("extract", "transform"):
            PipelineStageOperator(task_id=stage, pipeline="flights", stage=stage).execute(CONTEXT)

        with pytest.raises(AirflowFailException, match="max_reject_share"):
            PipelineStageOperator(task_id="load", pipeline="flights", stage="load").execute(CONTEXT)
    finally:
        project_config.cache_clear()

    status, error = (
        scalar(warehouse_url, "SELECT row(status, error)::text FROM audit.load_runs").strip("()").split(",", 1)
    )
    assert status == "failed"
    assert "ReconciliationError" in error
    assert "max_reject_share" in error
    assert scalar(warehouse_url, "SELECT count(*) FROM core.fact_flights") == 0


def test_a_reference_file_missing_a_column_fails_at_once_naming_it(
    pg_server: PgServer, warehouse_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "airlines.csv").write_text("carrier\n9E\nAA\n", encoding="utf-8")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", pg_server.connection_json(warehouse_url))
    monkeypatch.setenv(
        "AIRFLOW_CONN_REFERENCE_LANDING", json.dumps({"conn_type": "fs", "extra": {"path": str(tmp_path)}})
    )
    context = {**CONTEXT, "dag": SimpleNamespace(dag_id="reference_data")}

    with pytest.raises(AirflowFailException, match=r"airlines\.csv is missing required column"):
        PipelineStageOperator(task_id="load_airlines", pipeline="reference.airlines", stage="load").execute(context)

    # The file's own audit row says what to fix; the dimension holds only its unknown member.
    pipeline, status, error = scalar(
        warehouse_url, "SELECT array[pipeline, status, error]::text[] FROM audit.load_runs"
    )
    assert (pipeline, status) == ("reference.airlines", "failed")
    assert "missing required column(s) name" in error
    assert scalar(warehouse_url, "SELECT count(*) FROM core.dim_carrier") == 1
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.file_loads") == 0


def test_a_misspelt_database_fails_at_once_with_the_servers_reason(
    pg_server: PgServer, warehouse_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No retry can fix a database that does not exist: the task fails now (AirflowFailException: Airflow
    # does not retry it), not after its retries and their backoff.
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE", pg_server.connection_json(warehouse_url.set(database="nonexistent_db"))
    )
    monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_SOURCE", pg_server.connection_json(warehouse_url))

    with pytest.raises(AirflowFailException) as raised:
        PipelineStageOperator(task_id="extract", pipeline="flights", stage="extract").execute(CONTEXT)

    message = str(raised.value)
    assert message.startswith("OperationalError: ")
    assert 'database "nonexistent_db" does not exist' in message
    assert "not retried" in message
    assert "\n" not in message
