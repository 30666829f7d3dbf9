"""Least privilege: the loads run as a role that can read the source and load the warehouse, and
can do nothing else (no DDL on core or audit, no writes to the source)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.catalog import REPLACED_TABLES, ProjectConfig, ensure_warehouse
from flightdeck.core.db import connect, dispose_engines
from flightdeck.core.partition import day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.marts.daily_route_performance import rebuild_daily_route_performance
from flightdeck.sources.weather import pipeline as weather
from flightdeck.warehouse.roles import grant_loader, grant_source_reader
from tests.conftest import PgServer
from tests.support import load_reference, run_flights_day, scalar, stage_context

DAY = day_partition("flights", dt.date(2013, 1, 1))


@pytest.fixture
def roles(pg_server: PgServer) -> Iterator[tuple[str, str]]:
    """Two login roles, dropped after the databases that hold their grants (requested first)."""
    suffix = uuid.uuid4().hex[:8]
    loader, reader = f"fdt_loader_{suffix}", f"fdt_reader_{suffix}"
    with psycopg.connect(**_admin(pg_server), autocommit=True) as conn:
        for role in (loader, reader):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    yield loader, reader
    dispose_engines()
    with psycopg.connect(**_admin(pg_server), autocommit=True) as conn:
        for role in (loader, reader):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _admin(pg_server: PgServer) -> dict[str, Any]:
    url = pg_server.admin
    return {"host": url.host, "port": url.port, "user": url.username, "password": url.password, "dbname": "postgres"}


def as_role(url: URL, role: str) -> URL:
    return url.set(username=role, password=None)


def test_the_pipeline_runs_as_least_privilege_roles(
    roles: tuple[str, str], dirty_source: URL, warehouse_url: URL, project: ProjectConfig
) -> None:
    loader, reader = roles
    ensure_warehouse(warehouse_url, project.staging_schema)  # the owner applies the DDL once
    with connect(warehouse_url) as conn:
        grant_loader(conn, loader, project.staging_schema, REPLACED_TABLES)
    with connect(dirty_source) as conn:
        grant_source_reader(conn, reader)
    limited = Endpoints(source=as_role(dirty_source, reader), warehouse=as_role(warehouse_url, loader))

    load_reference(limited.warehouse, project, world_airports=True)
    run_flights_day(limited, project, DAY)

    assert scalar(warehouse_url, "SELECT status FROM audit.load_runs WHERE pipeline = 'flights'") == "success"
    assert scalar(warehouse_url, "SELECT status FROM audit.load_runs WHERE pipeline = 'world_airports'") == "success"
    assert rebuild_daily_route_performance(limited.warehouse, [DAY.start], run_id="manual") > 0
    assert scalar(warehouse_url, "SELECT tableowner FROM pg_tables WHERE tablename = 'flights_raw_p20130101'") == loader


def test_the_weather_pipeline_runs_as_the_loader(
    roles: tuple[str, str], warehouse_url: URL, project: ProjectConfig, weather_api: int
) -> None:
    loader, _ = roles
    ensure_warehouse(warehouse_url, project.staging_schema)
    with connect(warehouse_url) as conn:
        grant_loader(conn, loader, project.staging_schema)
    limited = as_role(warehouse_url, loader)
    # The fall-back day: 25 hours, 3 of them answered empty (recorded in audit.weather_empty_hours).
    partition = day_partition("weather", dt.date(2013, 11, 3))

    for stage in weather.PIPELINE.stages.values():
        stage(stage_context(project, partition, limited))

    assert scalar(warehouse_url, "SELECT status FROM audit.load_runs WHERE pipeline = 'weather'") == "success"
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.weather_empty_hours") == 3


@pytest.mark.parametrize(
    ("database", "statement"),
    [
        ("warehouse", "DROP TABLE core.fact_flights"),
        ("warehouse", "CREATE TABLE core.sneaky (x int)"),
        ("warehouse", "TRUNCATE audit.rejected_records"),
        ("warehouse", "TRUNCATE audit.weather_empty_hours"),
        ("source", "DELETE FROM ops.flights"),
        ("source", "CREATE TABLE ops.sneaky (x int)"),
    ],
)
def test_the_roles_can_do_nothing_else(
    roles: tuple[str, str],
    dirty_source: URL,
    warehouse_url: URL,
    project: ProjectConfig,
    database: str,
    statement: str,
) -> None:
    loader, reader = roles
    ensure_warehouse(warehouse_url, project.staging_schema)
    with connect(warehouse_url) as conn:
        grant_loader(conn, loader, project.staging_schema)
    with connect(dirty_source) as conn:
        grant_source_reader(conn, reader)
    target = as_role(warehouse_url, loader) if database == "warehouse" else as_role(dirty_source, reader)

    with pytest.raises(psycopg.errors.InsufficientPrivilege), connect(target) as conn:
        conn.execute(statement.encode())
