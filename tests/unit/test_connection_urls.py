"""Connections: TLS, timeouts and session options in a connection's extras reach the driver."""

from __future__ import annotations

from sqlalchemy.engine import URL

from flightdeck.core.connections import with_libpq_extras


def test_libpq_extras_are_carried_into_the_url_and_others_are_not() -> None:
    url = URL.create("postgresql+psycopg", username="etl", host="db.example", database="warehouse")

    result = with_libpq_extras(url, {"sslmode": "verify-full", "connect_timeout": 3, "cursor": "dictcursor"})

    assert result.query == {"sslmode": "verify-full", "connect_timeout": "3", "application_name": "flightdeck"}


def test_connections_time_out_by_default_instead_of_hanging() -> None:
    url = URL.create("postgresql+psycopg", host="db.example", database="warehouse")

    assert with_libpq_extras(url, {}).query["connect_timeout"] == "10"
