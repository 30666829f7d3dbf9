"""Airflow connections -> database URLs, the one place that asks Airflow for credentials."""

from __future__ import annotations

from sqlalchemy.engine import URL


def postgres_url(conn_id: str) -> URL:
    """The SQLAlchemy URL of a postgres connection (environment, secrets backend or metadata DB)."""
    from airflow.providers.postgres.hooks.postgres import (  # pyright: ignore[reportMissingTypeStubs]
        PostgresHook,
    )

    return PostgresHook(postgres_conn_id=conn_id).sqlalchemy_url
