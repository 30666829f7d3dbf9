"""PostgreSQL restarted between tasks: a clean restart is survived, a crash restart (which empties
UNLOGGED staging) is refused at load and repaired by rerunning the day; the fact table never shows
a partial partition, and the rerun's warehouse equals a clean run's."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig, ensure_warehouse, project_config
from flightdeck.core.db import connect, dispose_engines
from flightdeck.core.errors import PermanentPipelineError
from flightdeck.core.migrations import apply_sql_file
from flightdeck.core.partition import day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.core.staging import copy_records
from flightdeck.sources.flights import pipeline as flights
from flightdeck.sources.flights.pipeline import SOURCE_DDL
from flightdeck_tools import devenv
from flightdeck_tools.seed import FLIGHT_COLUMNS
from tests.conftest import PgServer
from tests.integration.conftest import real_rows
from tests.support import load_reference, run_flights_day, stage_context, table_checksum

DAY = day_partition("flights", dt.date(2013, 1, 1))
KEY_ORDER = "origin, carrier, flight, sched_dep_ts"


@dataclass
class PrivateServer:
    """A PostgreSQL of this test's own (embedded), so restarting it disturbs nobody else."""

    pgdata: Path
    server: PgServer


@pytest.fixture
def private(tmp_path_factory: pytest.TempPathFactory, source_url: URL) -> Iterator[tuple[PrivateServer, Endpoints]]:
    pgdata = tmp_path_factory.mktemp("pg") / "data"
    socket_dir = devenv.embedded_socket_dir(pgdata)
    server = PgServer(URL.create("postgresql+psycopg", username="postgres", host=socket_dir, database="postgres"))
    source, warehouse = server.create_database("src"), server.create_database("wh")
    day = real_rows(source_url, 1)
    with connect(source) as conn:
        apply_sql_file(conn, SOURCE_DDL)
        copy_records(conn, sql.Identifier("ops", "flights"), FLIGHT_COLUMNS, day)
    ensure_warehouse(warehouse, project_config().staging_schema)
    yield PrivateServer(pgdata, server), Endpoints(source=source, warehouse=warehouse)
    dispose_engines()
    _pg_ctl(pgdata, ["-w", "-m", "fast", "stop"])


def _pg_ctl(pgdata: Path, args: list[str]) -> None:
    pg_ctl = importlib.import_module("pgserver._commands").pg_ctl  # generated at import: no static symbol
    pg_ctl(args, pgdata=pgdata, user="pgserver" if os.geteuid() == 0 else None, timeout=120)


def restart(private: PrivateServer, mode: str) -> None:
    """Restart the server: 'fast' is a clean restart, 'immediate' a crash."""
    _pg_ctl(private.pgdata, ["-w", "-m", mode, "restart"])
    dispose_engines()
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(host=private.server.admin.host, user="postgres", dbname="postgres"):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def run_all(endpoints: Endpoints, project: ProjectConfig) -> None:
    load_reference(endpoints.warehouse, project)
    run_flights_day(endpoints, project, DAY)


def test_a_clean_restart_between_tasks_is_survived(
    private: tuple[PrivateServer, Endpoints], project: ProjectConfig
) -> None:
    server, endpoints = private
    run_all(endpoints, project)
    clean = table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER)
    flights.extract(stage_context(project, DAY, endpoints))

    restart(server, "fast")

    flights.transform(stage_context(project, DAY, endpoints))
    flights.load(stage_context(project, DAY, endpoints))
    flights.check(stage_context(project, DAY, endpoints))
    assert table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER) == clean


def test_a_crash_restart_between_tasks_is_refused_then_repaired_by_a_rerun(
    private: tuple[PrivateServer, Endpoints], project: ProjectConfig
) -> None:
    server, endpoints = private
    run_all(endpoints, project)
    clean = table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER)
    flights.extract(stage_context(project, DAY, endpoints))
    flights.transform(stage_context(project, DAY, endpoints))

    restart(server, "immediate")  # crash recovery resets UNLOGGED staging tables

    with pytest.raises(PermanentPipelineError, match="clear the run from the extract task"):
        flights.load(stage_context(project, DAY, endpoints))
    assert table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER) == clean
    run_all(endpoints, project)
    assert table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER) == clean
