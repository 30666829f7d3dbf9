"""The `etl` commands that talk to the databases: seed, status, and failures as one clear line."""

from __future__ import annotations

import pytest

from flightdeck.core.stage import Endpoints
from flightdeck_tools.cli import main
from tests.conftest import PgServer
from tests.support import scalar


def test_seed_loads_the_source_once_and_then_does_nothing(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = pg_server.create_database("fdt_seed")
    try:
        monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_SOURCE", pg_server.connection_json(source))
        monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", pg_server.connection_json(source))

        assert main(["seed"]) == 0
        assert "seeded: flights 336,776\n" in capsys.readouterr().out
        assert main(["seed"]) == 0
        assert "already seeded" in capsys.readouterr().out
        assert scalar(source, "SELECT count(*) FROM ops.flights") == 336_776
    finally:
        from flightdeck.core.db import dispose_engines

        dispose_engines()
        pg_server.drop_database(source)


def test_status_on_a_new_warehouse_says_there_are_no_runs(
    airflow_connections: Endpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0
    assert "no runs yet" in capsys.readouterr().out


def test_an_unreachable_warehouse_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://etl:secret-password@127.0.0.1:1/warehouse")
    monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_SOURCE", "postgresql://etl:secret-password@127.0.0.1:1/source")

    assert main(["status"]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("etl: error: OperationalError: ")
    assert "127.0.0.1" in err[0]
    assert "secret-password" not in err[0]
