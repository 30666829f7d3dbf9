"""Database access: one pooled SQLAlchemy engine per URL and process, psycopg 3 underneath.

Stages take a psycopg connection (COPY needs the driver's own API); they borrow it from the pool.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from flightdeck.core.errors import is_transient
from flightdeck.core.paths import SQL_DIR

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: URL | str) -> Engine:
    """The process-wide pooled engine for a database URL (psycopg 3 driver)."""
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    key = parsed.render_as_string(hide_password=False)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_engine(parsed, pool_size=2, max_overflow=2, pool_pre_ping=True)
            _engines[key] = engine
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, and after a fork)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def retry_transient(attempts: int = 3, max_wait_s: float = 4.0) -> Any:
    """Retry a callable on transient database errors with exponential backoff and jitter.

    Short and bounded: longer outages are Airflow's task retries' job.
    """
    return retry(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential_jitter(initial=0.5, max=max_wait_s),
        stop=stop_after_attempt(attempts),
        reraise=True,
    )


@retry_transient()
def _checkout(engine: Engine) -> Any:
    return engine.raw_connection()


@contextmanager
def connect(url: URL | str) -> Generator[psycopg.Connection[tuple[object, ...]]]:
    """A pooled psycopg connection, in a transaction committed on success, rolled back on error."""
    raw = _checkout(engine_for(url))
    try:
        driver = cast("psycopg.Connection[tuple[object, ...]]", raw.driver_connection)
        try:
            yield driver
            driver.commit()
        except BaseException:
            if not driver.closed:
                driver.rollback()
            raise
    finally:
        raw.close()


def qualified(name: str) -> sql.Identifier:
    """schema.table from configuration (already validated) as a driver-quoted identifier."""
    schema, table = name.split(".", 1)
    return sql.Identifier(schema, table)


def apply_sql_file(conn: psycopg.Connection[tuple[object, ...]], filename: str) -> None:
    """Run one of the project's DDL files, serialised across processes by an advisory lock."""
    ddl = (SQL_DIR / filename).read_text(encoding="utf-8")
    with conn.cursor() as cur:
        # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalogue; the lock avoids it.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"flightdeck:{filename}",))
        cur.execute(ddl.encode("utf-8"))


def ensure_sql_file(conn: psycopg.Connection[tuple[object, ...]], filename: str, ledger: str) -> bool:
    """Apply a DDL file unless the ledger table records this exact version; returns whether it ran.

    Once applied, runs need no DDL privileges at all, so a least-privilege role can load.
    """
    ddl = (SQL_DIR / filename).read_text(encoding="utf-8")
    checksum = hashlib.sha256(ddl.encode("utf-8")).hexdigest()
    if table_exists(conn, ledger):
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT checksum FROM {} WHERE filename = %s").format(qualified(ledger)), (filename,))
            row = cur.fetchone()
        if row and row[0] == checksum:
            return False
    apply_sql_file(conn, filename)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (filename, checksum) VALUES (%s, %s) "
                "ON CONFLICT (filename) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()"
            ).format(qualified(ledger)),
            (filename, checksum),
        )
    return True


def schema_exists(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (name,))
        row = cur.fetchone()
    return bool(row and row[0])


def table_exists(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        row = cur.fetchone()
    return bool(row and row[0])
