"""flights_daily through Airflow's own dag.test(), via the `etl` CLI: runs, reruns, idempotency."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from flightdeck.catalog import project_config
from flightdeck.core.paths import PROJECT_ROOT
from flightdeck.core.stage import Endpoints
from flightdeck_tools.cli import main
from tests.support import scalar, table_checksum
from tests.support_http import receiving_server

KEY_ORDER = "origin, carrier, flight, sched_dep_ts"


def day_count(e2e: Endpoints, day: int) -> int:
    return int(
        scalar(
            e2e.require_source(),
            "SELECT count(*) FROM ops.flights WHERE year = 2013 AND month = 1 AND day = %s",
            (day,),
        )
    )


def test_two_days_then_a_rerun_leave_an_identical_warehouse(e2e: Endpoints, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backfill", "flights_daily", "--start", "2013-01-01", "--end", "2013-01-02"]) == 0
    assert "flights_daily 2013-01-01: success" in capsys.readouterr().out

    wh = e2e.warehouse
    for day in (1, 2):
        loaded = scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE flight_date = %s", (f"2013-01-0{day}",))
        assert loaded == day_count(e2e, day)
    runs = scalar(wh, "SELECT string_agg(partition_date::text || ':' || status, ',' ORDER BY 1) FROM audit.load_runs")
    assert runs == "2013-01-01:success,2013-01-02:success"
    fact_before = table_checksum(wh, "core.fact_flights", KEY_ORDER)
    rejects_before = scalar(wh, "SELECT count(*) FROM audit.rejected_records")

    assert main(["run", "flights_daily", "--date", "2013-01-01"]) == 0

    assert table_checksum(wh, "core.fact_flights", KEY_ORDER) == fact_before
    assert scalar(wh, "SELECT count(*) FROM audit.rejected_records") == rejects_before
    assert scalar(wh, "SELECT count(*) FROM audit.load_runs WHERE partition_date = '2013-01-01'") == 2

    # Nothing was rejected, so a dead-letter replay of the day has nothing to do.
    capsys.readouterr()
    assert main(["replay-rejects", "--dag", "flights_daily", "--date", "2013-01-01"]) == 0
    assert "flights_daily 2013-01-01: 0 replayed and loaded, 0 still rejected" in capsys.readouterr().out
    assert main(["replay-rejects", "--dag", "flights_daily", "--date", "2013-01-01", "--from-source"]) == 0
    assert "flights_daily 2013-01-01: 0 replayed and loaded, 0 still rejected" in capsys.readouterr().out
    assert table_checksum(wh, "core.fact_flights", KEY_ORDER) == fact_before


def test_a_permanent_error_fails_the_run_at_once(e2e: Endpoints, capsys: pytest.CaptureFixture[str]) -> None:
    # Point the source connection at a database without the ops tables: nothing to retry.
    with pytest.MonkeyPatch.context() as patch, receiving_server() as webhook:
        patch.setenv("AIRFLOW_CONN_FLIGHTS_SOURCE", os.environ["AIRFLOW_CONN_WAREHOUSE"])
        patch.setenv(
            "AIRFLOW_CONN_ALERTS_WEBHOOK",
            json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": webhook.port, "schema": "http"}),
        )
        assert main(["run", "flights_daily", "--date", "2013-01-03"]) == 1
    assert "flights_daily 2013-01-03: failed" in capsys.readouterr().out
    # The on-call channel heard about it once, from the task that failed (the first to read the source:
    # the wait for the day's rows), with what to fix.
    alerts = [payload for _, payload in webhook.received]
    assert [(a["event"], a["task_id"]) for a in alerts] == [("task_failed", "wait_for_source")]
    assert "etl seed" in alerts[0]["detail"]
    assert scalar(e2e.warehouse, "SELECT count(*) FROM core.fact_flights WHERE flight_date = '2013-01-03'") == 0
    # The audit row says the day failed, where, and what to do about it.
    status, error = (
        scalar(
            e2e.warehouse, "SELECT row(status, error)::text FROM audit.load_runs WHERE partition_date = '2013-01-03'"
        )
        .strip("()")
        .split(",", 1)
    )
    assert status == "failed"
    assert "source table ops.flights does not exist" in error
    assert "etl seed" in error


def test_an_unknown_dag_is_one_clear_line(e2e: Endpoints, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no_such_dag", "--date", "2013-01-01"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("etl: error: no DAG 'no_such_dag' (known: flights_daily")


def test_a_failed_data_quality_check_fails_the_run(
    e2e: Endpoints, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "config" / "pipelines.yaml").read_text(encoding="utf-8"))
    config["pipelines"]["flights"]["quality_checks"]["table_checks"]["no_flight_is_that_long"] = "distance_mi < 2000"
    strict = tmp_path / "pipelines.yaml"
    strict.write_text(yaml.safe_dump(config), encoding="utf-8")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("FLIGHTDECK_CONFIG", str(strict))
            project_config.cache_clear()
            assert main(["run", "flights_daily", "--date", "2013-01-04"]) == 1
    finally:
        project_config.cache_clear()

    assert "flights_daily 2013-01-04: failed" in capsys.readouterr().out
    status, error = (
        scalar(
            e2e.warehouse, "SELECT row(status, error)::text FROM audit.load_runs WHERE partition_date = '2013-01-04'"
        )
        .strip("()")
        .split(",", 1)
    )
    assert status == "failed"
    assert "data-quality check failed" in error
    assert "no_flight_is_that_long" in error
