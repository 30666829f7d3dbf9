"""Database access: one pooled SQLAlchemy engine per URL and process, psycopg 3 underneath.

Stages take a psycopg connection (COPY needs the driver's own API); they borrow it from the pool.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

from flightdeck.core.compose import Connection
from flightdeck.core.retry import DATABASE_CONNECT, retrying

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


def _checkout(engine: Engine) -> Any:
    return retrying(DATABASE_CONNECT)(engine.raw_connection)


@contextmanager
def connect(url: URL | str) -> Generator[Connection]:
    """A pooled psycopg connection, in a transaction committed on success, rolled back on error."""
    raw = _checkout(engine_for(url))
    try:
        driver = cast("Connection", raw.driver_connection)
        try:
            yield driver
            driver.commit()
        except BaseException:
            if not driver.closed:
                driver.rollback()
            raise
    finally:
        raw.close()
