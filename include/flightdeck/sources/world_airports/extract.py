"""Extract: airportsdata's airports keyed by IATA code, as the package ships them, and the warehouse's zones.

The package's data is part of the installed package (no network): its version is the data's version.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import airportsdata

from flightdeck.core.compose import Connection

PACKAGE = "airportsdata"


def airports_by_code() -> Mapping[str, Mapping[str, Any]]:
    """The package's airports keyed by IATA code (about 7,900; codes without an IATA code are left out)."""
    return airportsdata.load("IATA")


def extract_records() -> list[dict[str, Any]]:
    """Every airport record as the package gives it: the raw payload of a rejection."""
    return [dict(record) for record in airports_by_code().values()]


def package_version() -> str:
    return version(PACKAGE)


def warehouse_zones(conn: Connection) -> frozenset[str]:
    """The time zone names the warehouse's PostgreSQL knows: flights' arrival instants are computed there."""
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM pg_timezone_names")
        return frozenset(str(name) for (name,) in cur.fetchall())
