"""Airflow connections -> database URLs, the one place that asks Airflow for credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from sqlalchemy.engine import URL

# libpq parameters that a connection's extras may carry (the provider's own URL drops them).
LIBPQ_EXTRAS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "connect_timeout",
        "application_name",
        "options",
        "target_session_attrs",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
    }
)
DEFAULT_QUERY = {"connect_timeout": "10", "application_name": "flightdeck"}


def postgres_url(conn_id: str) -> URL:
    """The SQLAlchemy URL of a postgres connection (environment, secrets backend or metadata DB)."""
    from airflow.providers.postgres.hooks.postgres import (  # pyright: ignore[reportMissingTypeStubs]
        PostgresHook,
    )

    hook = PostgresHook(postgres_conn_id=conn_id)
    extras = cast("dict[str, Any]", hook.connection.extra_dejson)  # pyright: ignore[reportUnknownMemberType]
    return with_libpq_extras(hook.sqlalchemy_url, extras)


def with_libpq_extras(url: URL, extras: dict[str, Any]) -> URL:
    """Carry TLS, timeout and session settings from the connection's extras into the URL."""
    query = dict(DEFAULT_QUERY)
    query.update({key: str(value) for key, value in extras.items() if key in LIBPQ_EXTRAS})
    return url.update_query_dict(query)


def folder_path(conn_id: str, default: Path) -> Path:
    """The folder of a filesystem connection (conn_type fs, extra {"path": ...}); `default` if undefined."""
    from airflow.providers.standard.hooks.filesystem import FSHook  # pyright: ignore[reportMissingTypeStubs]
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Path(str(FSHook(fs_conn_id=conn_id).get_path()))  # pyright: ignore[reportUnknownMemberType]
    except AirflowNotFoundException:
        return default
