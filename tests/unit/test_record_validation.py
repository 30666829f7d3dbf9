"""validation.py: records split into valid models and readable rejections, never exceptions."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from flightdeck.core.validation import Rejection, explain, validate_records
from flightdeck.sources.flights.schemas import SourceFlight
from flightdeck.sources.reference.schemas import AirportRef

Row = dict[str, Any]
RealFlight = Callable[[int, int, str, int], Row]


@pytest.fixture
def rows(real_flight: RealFlight) -> list[Row]:
    """Three real flights of 2013-01-01 with two of them broken in different ways."""
    return [
        real_flight(1, 1, "UA", 1545),
        {**real_flight(1, 1, "UA", 1714), "carrier": "ua", "origin": "LG"},  # two field errors
        real_flight(1, 1, "AA", 1141),
        {**real_flight(1, 1, "B6", 725), "dest": "JFK"},  # a cross-field rule: origin is JFK too
    ]


def test_valid_and_rejected_records_are_split_in_order(rows: list[Row]) -> None:
    valid, rejected = validate_records(rows, SourceFlight, "post_extract")

    assert [flight.flight_id for flight in valid] == [rows[0]["flight_id"], rows[2]["flight_id"]]
    assert [r.raw["flight_id"] for r in rejected] == [rows[1]["flight_id"], rows[3]["flight_id"]]
    assert all(isinstance(flight, SourceFlight) for flight in valid)


def test_each_bad_record_gives_exactly_one_rejection_however_many_errors_it_has(rows: list[Row]) -> None:
    _, rejected = validate_records(rows[1:2], SourceFlight, "post_extract")

    assert len(rejected) == 1
    assert rejected[0].field == "carrier,origin"
    assert rejected[0].reason == (
        "carrier: String should match pattern '^[A-Z0-9]{2}$'; origin: String should match pattern '^[A-Z]{3}$'"
    )


def test_a_cross_field_rule_names_the_column_it_is_about(rows: list[Row]) -> None:
    _, rejected = validate_records(rows[3:4], SourceFlight, "post_extract")

    assert rejected[0].field == "dest"
    assert rejected[0].reason == "dest: origin and dest are the same airport"


def test_a_rejection_records_its_stage_and_the_raw_record_exactly(rows: list[Row]) -> None:
    before = copy.deepcopy(rows)

    _, rejected = validate_records(rows, SourceFlight, "post_extract")

    assert {r.stage for r in rejected} == {"post_extract"}
    assert rejected[0].raw is rows[1]
    assert rejected[0].raw == before[1]
    assert rejected[1].raw == before[3]
    assert rows == before  # validation never rewrites the input


def test_raw_json_is_sorted_json_with_datetimes_as_text(rows: list[Row]) -> None:
    _, rejected = validate_records(rows[1:2], SourceFlight, "post_extract")

    text = rejected[0].raw_json()
    decoded = json.loads(text)

    assert list(decoded) == sorted(decoded)
    assert decoded["time_hour"] == "2013-01-01 10:00:00+00:00"
    assert decoded["carrier"] == "ua"
    assert decoded["dep_delay"] == 4
    assert decoded["tailnum"] == "N24211"


def test_raw_json_writes_dates_and_decimals_as_text() -> None:
    raw = {"day": dt.date(2013, 1, 1), "lat": Decimal("40.639751"), "missing": None}

    decoded = json.loads(Rejection("reference_airports", "lat", "lat: bad", raw).raw_json())

    assert decoded == {"day": "2013-01-01", "lat": "40.639751", "missing": None}


def test_raw_json_is_strict_json_even_for_a_nan_coordinate() -> None:
    airport = {"faa": "JFK", "name": "John F Kennedy Intl", "lat": float("nan"), "lon": -73.78, "alt": 13}
    airport |= {"tz": -5, "dst": "A", "tzone": "America/New_York"}
    _, rejected = validate_records([airport], AirportRef, "reference_airports")
    assert rejected[0].field == "lat"

    def no_constants(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    json.loads(rejected[0].raw_json(), parse_constant=no_constants)


def test_empty_input_gives_two_empty_lists() -> None:
    assert validate_records([], SourceFlight, "post_extract") == ([], [])


def test_any_iterable_of_rows_is_validated_once(real_flight: RealFlight) -> None:
    consumed: list[int] = []

    def stream() -> Iterator[Row]:
        for flight in (1545, 1714):
            consumed.append(flight)
            yield real_flight(1, 1, "UA", flight)

    valid, rejected = validate_records(stream(), SourceFlight, "post_extract")

    assert (len(valid), rejected, consumed) == (2, [], [1545, 1714])


def test_the_context_reaches_the_model(real_flight: RealFlight) -> None:
    row = real_flight(1, 1, "UA", 1545)  # time_hour 10:00Z is 05:00 in New York, 04:00 in Chicago

    valid_ny, _ = validate_records([row], SourceFlight, "post_extract", {"timezone": "America/New_York"})
    _, rejected_chicago = validate_records([row], SourceFlight, "post_extract", {"timezone": "America/Chicago"})

    assert len(valid_ny) == 1
    assert rejected_chicago[0].field == "time_hour"


def test_a_record_that_is_not_a_mapping_is_explained_without_a_field() -> None:
    with pytest.raises(ValidationError) as raised:
        SourceFlight.model_validate("UA 1545")

    field, reason = explain(raised.value)

    assert field is None
    assert reason == "Input should be a valid dictionary or instance of SourceFlight"


def test_explain_strips_pydantics_value_error_prefix(real_flight: RealFlight) -> None:
    with pytest.raises(ValidationError) as raised:
        SourceFlight.model_validate({**real_flight(1, 1, "UA", 1545), "hour": 7})

    field, reason = explain(raised.value)

    assert field == "hour"
    assert reason == "hour: hour and minute do not match sched_dep_time"
    assert "Value error" not in reason
