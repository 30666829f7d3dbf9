"""sources/flights/facts.py: source flights become fact rows with correct local times and instants."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flightdeck.sources.flights.facts import UNKNOWN_KEY, ReferenceLookup, localize, to_fact, wall_clock, zone
from flightdeck.sources.flights.schemas import FactFlight, SourceFlight
from tests.support import hhmm

Row = dict[str, Any]
RealFlight = Callable[[int, int, str, int], Row]
RealDay = Callable[[int, int], list[Row]]

NEW_YORK = zone("America/New_York")
LOS_ANGELES = zone("America/Los_Angeles")
EST = dt.timedelta(hours=-5)
EDT = dt.timedelta(hours=-4)


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)  # pyright: ignore[reportArgumentType]


@pytest.fixture
def fact_of(real_flight: RealFlight, real_refs: ReferenceLookup) -> Callable[[int, int, str, int], Row]:
    """The fact row of a real flight, transformed with the real reference data."""

    def transform(month: int, day: int, carrier: str, flight: int) -> Row:
        source = SourceFlight.model_validate(real_flight(month, day, carrier, flight))
        return to_fact(source, real_refs, NEW_YORK)

    return transform


def synthetic(
    day: dt.date, sched_dep: int, dep_time: int | None, dep_delay: int | None, **changes: Any
) -> SourceFlight:
    """A consistent EWR -> ORD flight scheduled at sched_dep (HHMM, New York) on day."""
    hour, minute = divmod(sched_dep, 100)
    scheduled_hour = dt.datetime(day.year, day.month, day.day, hour, tzinfo=NEW_YORK)
    row: Row = {
        "flight_id": 1,
        "year": day.year,
        "month": day.month,
        "day": day.day,
        "dep_time": dep_time,
        "sched_dep_time": sched_dep,
        "dep_delay": dep_delay,
        "arr_time": None,
        "sched_arr_time": hhmm((hour * 60 + minute + 120) % 1440),
        "arr_delay": None,
        "carrier": "UA",
        "flight": 1,
        "tailnum": "N14228",
        "origin": "EWR",
        "dest": "ORD",
        "air_time": None,
        "distance": 719,
        "hour": hour,
        "minute": minute,
        "time_hour": scheduled_hour.astimezone(dt.UTC),
        **changes,
    }
    return SourceFlight.model_validate(row)


# --- wall_clock and localize ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "expected"),
    [
        (0, dt.datetime(2013, 1, 1, 0, 0)),
        (517, dt.datetime(2013, 1, 1, 5, 17)),
        (1200, dt.datetime(2013, 1, 1, 12, 0)),
        (2359, dt.datetime(2013, 1, 1, 23, 59)),
        (2400, dt.datetime(2013, 1, 2, 0, 0)),
    ],
)
def test_wall_clock_reads_hhmm_on_the_day(clock: int, expected: dt.datetime) -> None:
    assert wall_clock(dt.date(2013, 1, 1), clock) == expected


def test_2400_is_the_midnight_that_starts_the_next_day() -> None:
    assert wall_clock(dt.date(2013, 12, 31), 2400) == wall_clock(dt.date(2014, 1, 1), 0)


@given(
    day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31)),
    hours=st.integers(0, 23),
    minutes=st.integers(0, 59),
)
def test_wall_clock_round_trips_hhmm(day: dt.date, hours: int, minutes: int) -> None:
    wall = wall_clock(day, hours * 100 + minutes)

    assert wall.date() == day
    assert wall.hour * 100 + wall.minute == hours * 100 + minutes
    assert wall.tzinfo is None


@pytest.mark.parametrize(
    ("near", "offset"),
    [
        pytest.param(None, EDT, id="no-hint-first-reading"),
        pytest.param(utc(2013, 11, 3, 5, 30), EDT, id="hint-first-reading"),
        pytest.param(utc(2013, 11, 3, 5, 50), EDT, id="hint-closer-to-first"),
        pytest.param(utc(2013, 11, 3, 6, 30), EST, id="hint-second-reading"),
        pytest.param(utc(2013, 11, 3, 6, 10), EST, id="hint-closer-to-second"),
    ],
)
def test_the_repeated_autumn_hour_takes_the_reading_nearest_the_hint(
    near: dt.datetime | None, offset: dt.timedelta
) -> None:
    local = localize(dt.datetime(2013, 11, 3, 1, 30), NEW_YORK, near=near)

    assert local.utcoffset() == offset
    assert (local.hour, local.minute) == (1, 30)


@pytest.mark.parametrize(
    "near", [None, utc(2013, 3, 10, 7, 30)], ids=["no-hint", "hint-from-a-schedule-before-the-change"]
)
def test_a_spring_gap_time_keeps_the_offset_before_the_change(near: dt.datetime | None) -> None:
    local = localize(dt.datetime(2013, 3, 10, 2, 30), NEW_YORK, near=near)

    assert local.utcoffset() == EST
    assert local.astimezone(dt.UTC) == utc(2013, 3, 10, 7, 30)


@pytest.mark.parametrize("near", [None, utc(2013, 7, 4, 20)], ids=["no-hint", "far-hint"])
def test_an_unambiguous_time_ignores_the_hint(near: dt.datetime | None) -> None:
    assert localize(dt.datetime(2013, 7, 4, 12, 0), NEW_YORK, near=near).astimezone(dt.UTC) == utc(2013, 7, 4, 16)


# --- to_fact: real flights -----------------------------------------------------------------------


def test_an_ordinary_flight(fact_of: Callable[[int, int, str, int], Row], real_refs: ReferenceLookup) -> None:
    fact = fact_of(1, 1, "UA", 1545)  # EWR 05:15 (dep 05:17) -> IAH 08:19 (arr 08:30) CST

    assert fact == {
        "origin": "EWR",
        "carrier": "UA",
        "flight": 1545,
        "sched_dep_ts": utc(2013, 1, 1, 10, 15),
        "flight_date": dt.date(2013, 1, 1),
        "dest": "IAH",
        "tailnum": "N14228",
        "origin_airport_key": real_refs.airport_key("EWR"),
        "dest_airport_key": real_refs.airport_key("IAH"),
        "carrier_key": real_refs.carriers["UA"],
        "aircraft_key": real_refs.aircraft["N14228"],
        "status": "completed",
        "is_cancelled": False,
        "sched_dep_local": dt.datetime(2013, 1, 1, 5, 15),
        "dep_ts": utc(2013, 1, 1, 10, 17),
        "dep_local": dt.datetime(2013, 1, 1, 5, 17),
        "sched_arr_local": dt.datetime(2013, 1, 1, 8, 19),
        "arr_local": dt.datetime(2013, 1, 1, 8, 30),
        "arr_ts": utc(2013, 1, 1, 14, 30),
        "dep_delay_min": 2,
        "arr_delay_min": 11,
        "air_time_min": 227,
        "distance_mi": 1400,
        "source_flight_id": 1,
    }
    assert set(fact) == set(FactFlight.model_fields)
    assert min(fact["origin_airport_key"], fact["dest_airport_key"], fact["carrier_key"], fact["aircraft_key"]) > 0


def test_a_cancelled_flight_has_no_departure_or_arrival(fact_of: Callable[[int, int, str, int], Row]) -> None:
    fact = fact_of(1, 1, "EV", 4308)

    assert (fact["status"], fact["is_cancelled"]) == ("cancelled", True)
    assert [fact[k] for k in ("dep_ts", "dep_local", "arr_local", "arr_ts", "dep_delay_min", "arr_delay_min")] == [
        None
    ] * 6
    assert fact["sched_dep_ts"] == utc(2013, 1, 1, 21, 30)
    assert fact["sched_arr_local"] == dt.datetime(2013, 1, 1, 18, 15)
    FactFlight.model_validate(fact)


def test_a_diverted_flight_departed_but_has_no_arrival_delay(fact_of: Callable[[int, int, str, int], Row]) -> None:
    fact = fact_of(1, 1, "MQ", 4525)  # LGA -> XNA, departed 15:25, never reached XNA on time

    assert (fact["status"], fact["is_cancelled"]) == ("diverted", False)
    assert fact["dep_ts"] == utc(2013, 1, 1, 20, 25)
    assert fact["arr_delay_min"] is None
    assert fact["air_time_min"] is None
    FactFlight.model_validate(fact)


@pytest.mark.parametrize(
    ("flight", "dep_local", "dep_ts"),
    [
        # MQ 3944 JFK -> BWI, scheduled 18:35 on Jan 1, departed 08:48 the next morning, 853 minutes late.
        pytest.param((1, 1, "MQ", 3944), dt.datetime(2013, 1, 2, 8, 48), utc(2013, 1, 2, 13, 48), id="next-morning"),
        # B6 707 JFK -> SJU, scheduled 23:59 on Jan 2, departed 00:42, 43 minutes late.
        pytest.param(
            (1, 2, "B6", 707), dt.datetime(2013, 1, 3, 0, 42), utc(2013, 1, 3, 5, 42), id="just-after-midnight"
        ),
        # B6 839 JFK -> BQN, scheduled 23:59 on Oct 30, departed at 2400: midnight ending the day.
        pytest.param((10, 30, "B6", 839), dt.datetime(2013, 10, 31, 0, 0), utc(2013, 10, 31, 4, 0), id="at-2400"),
    ],
)
def test_a_departure_delayed_past_midnight_lands_on_the_next_day(
    fact_of: Callable[[int, int, str, int], Row],
    flight: tuple[int, int, str, int],
    dep_local: dt.datetime,
    dep_ts: dt.datetime,
) -> None:
    fact = fact_of(*flight)

    assert fact["flight_date"] == dt.date(2013, flight[0], flight[1])
    assert fact["dep_local"] == dep_local
    assert fact["dep_ts"] == dep_ts
    assert fact["dep_ts"] - fact["sched_dep_ts"] == dt.timedelta(minutes=fact["dep_delay_min"])
    assert fact["arr_local"] > fact["dep_local"]
    FactFlight.model_validate(fact)


@pytest.mark.parametrize(
    ("sched", "dep_time", "delay", "dep_local"),
    [
        pytest.param(2359, 10, 11, dt.datetime(2013, 1, 16, 0, 10), id="2359-dep-0010-next-day"),
        pytest.param(5, 2355, -10, dt.datetime(2013, 1, 14, 23, 55), id="0005-early-2355-previous-day"),
        pytest.param(1000, 959, 1439, dt.datetime(2013, 1, 16, 9, 59), id="a-day-late-minus-a-minute"),
        pytest.param(1000, 959, -1, dt.datetime(2013, 1, 15, 9, 59), id="a-minute-early"),
    ],
)
def test_the_delay_decides_the_day_of_the_departure(
    sched: int, dep_time: int, delay: int, dep_local: dt.datetime
) -> None:
    source = synthetic(dt.date(2013, 1, 15), sched, dep_time, delay)

    fact = to_fact(source, ReferenceLookup(), NEW_YORK)

    assert fact["dep_local"] == dep_local
    assert fact["dep_ts"] == fact["sched_dep_ts"] + dt.timedelta(minutes=delay)


@given(
    sched_minutes=st.integers(0, 1439),
    delay=st.integers(-120, 1439),
    write_midnight_as_2400=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_a_departure_is_its_delay_after_the_scheduled_instant(
    sched_minutes: int, delay: int, write_midnight_as_2400: bool
) -> None:
    clock = hhmm((sched_minutes + delay) % 1440)
    if clock == 0 and write_midnight_as_2400:
        clock = 2400
    source = synthetic(dt.date(2013, 1, 15), hhmm(sched_minutes), clock, delay)

    fact = to_fact(source, ReferenceLookup(), NEW_YORK)

    assert fact["dep_ts"] - fact["sched_dep_ts"] == dt.timedelta(minutes=delay)
    assert fact["dep_local"] == fact["sched_dep_local"] + dt.timedelta(minutes=delay)


@pytest.mark.parametrize(
    ("flight", "arr_local", "arr_ts"),
    [
        # UA 1241 EWR 21:00 -> TPA, departed 20:58, landed 00:08 on Jan 2 (Tampa is in New York's zone).
        pytest.param((1, 1, "UA", 1241), dt.datetime(2013, 1, 2, 0, 8), utc(2013, 1, 2, 5, 8), id="to-tampa"),
        # UA 1071 EWR 19:29 -> BQN, landed 00:03; Aguadilla is not in the airports table.
        pytest.param((1, 1, "UA", 1071), dt.datetime(2013, 1, 2, 0, 3), None, id="to-unknown-aguadilla"),
        # B6 35 JFK 23:06 -> PBI on Mar 9, landed 02:03 on Mar 10: in the spring gap, clocks not yet moved.
        pytest.param((3, 9, "B6", 35), dt.datetime(2013, 3, 10, 2, 3), utc(2013, 3, 10, 7, 3), id="into-spring-gap"),
    ],
)
def test_an_arrival_clock_earlier_than_the_departure_clock_is_the_next_day(
    fact_of: Callable[[int, int, str, int], Row],
    flight: tuple[int, int, str, int],
    arr_local: dt.datetime,
    arr_ts: dt.datetime | None,
) -> None:
    fact = fact_of(*flight)

    assert fact["dep_local"].date() == fact["flight_date"]
    assert fact["arr_local"] == arr_local
    assert fact["arr_ts"] == arr_ts
    FactFlight.model_validate(fact)


def test_a_westbound_arrival_is_read_in_the_destination_zone(fact_of: Callable[[int, int, str, int], Row]) -> None:
    fact = fact_of(1, 1, "UA", 194)  # JFK 05:58 EST -> LAX 09:24 PST, 345 minutes in the air

    assert fact["arr_local"] == dt.datetime(2013, 1, 1, 9, 24)
    assert fact["arr_ts"] == dt.datetime(2013, 1, 1, 9, 24, tzinfo=LOS_ANGELES).astimezone(dt.UTC)
    assert fact["arr_ts"] == utc(2013, 1, 1, 17, 24)
    assert fact["arr_ts"] - fact["dep_ts"] >= dt.timedelta(minutes=fact["air_time_min"])


def test_an_arrival_in_the_repeated_autumn_hour_takes_the_daylight_reading(
    fact_of: Callable[[int, int, str, int], Row],
) -> None:
    fact = fact_of(11, 2, "VX", 413)  # JFK 22:17 EDT -> LAX, landed 01:14 on Nov 3, when LA repeats 01:00-02:00

    assert fact["arr_local"] == dt.datetime(2013, 11, 3, 1, 14)
    assert fact["arr_ts"] == utc(2013, 11, 3, 8, 14)  # 01:14 PDT: 357 minutes after a 339-minute flight's departure
    assert fact["arr_ts"] - fact["dep_ts"] == dt.timedelta(minutes=357)


def test_an_arrival_at_an_airport_without_a_known_zone_has_no_instant(
    fact_of: Callable[[int, int, str, int], Row], real_flight: RealFlight
) -> None:
    source = SourceFlight.model_validate(real_flight(1, 1, "UA", 194))
    no_zone_for_lax = ReferenceLookup(airports={"JFK": (1, "America/New_York"), "LAX": (2, None)})

    fact = to_fact(source, no_zone_for_lax, NEW_YORK)

    assert fact["dest_airport_key"] == 2
    assert fact["arr_local"] == dt.datetime(2013, 1, 1, 9, 24)
    assert fact["arr_ts"] is None
    assert fact["dep_ts"] == utc(2013, 1, 1, 10, 58)


@pytest.mark.parametrize(
    ("flight", "column", "why"),
    [
        pytest.param((1, 1, "AA", 301), "aircraft_key", "N3ALAA is not in the planes table", id="unknown-tail"),
        pytest.param((1, 2, "AA", 133), "aircraft_key", "the cancelled flight has no tail number", id="null-tail"),
        pytest.param((1, 1, "UA", 1071), "dest_airport_key", "BQN is not in the airports table", id="unknown-airport"),
    ],
)
def test_a_code_missing_from_the_reference_data_maps_to_the_unknown_member(
    fact_of: Callable[[int, int, str, int], Row], flight: tuple[int, int, str, int], column: str, why: str
) -> None:
    fact = fact_of(*flight)

    assert fact[column] == UNKNOWN_KEY == -1, why
    assert fact["carrier_key"] != UNKNOWN_KEY
    assert fact["origin_airport_key"] != UNKNOWN_KEY


def test_no_reference_data_at_all_maps_every_code_to_unknown(real_flight: RealFlight) -> None:
    fact = to_fact(SourceFlight.model_validate(real_flight(1, 1, "UA", 1545)), ReferenceLookup(), NEW_YORK)

    keys = ("origin_airport_key", "dest_airport_key", "carrier_key", "aircraft_key")
    assert [fact[k] for k in keys] == [UNKNOWN_KEY] * 4
    assert fact["arr_ts"] is None
    assert fact["dep_ts"] == utc(2013, 1, 1, 10, 17)


# --- daylight saving time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flight", "sched_dep_ts", "dep_ts", "arr_ts"),
    [
        # US 1113 EWR 05:00 EDT -> CLT on the spring change day: left 04:54, landed 06:28 EDT.
        pytest.param(
            (3, 10, "US", 1113),
            utc(2013, 3, 10, 9, 0),
            utc(2013, 3, 10, 8, 54),
            utc(2013, 3, 10, 10, 28),
            id="spring-change-day",
        ),
        # UA 322 EWR 05:20 EST -> IAH on the autumn change day: left 05:19, landed 07:51 CST.
        pytest.param(
            (11, 3, "UA", 322),
            utc(2013, 11, 3, 10, 20),
            utc(2013, 11, 3, 10, 19),
            utc(2013, 11, 3, 13, 51),
            id="autumn-change-day",
        ),
    ],
)
def test_flights_on_the_change_days_get_their_utc_instants(
    fact_of: Callable[[int, int, str, int], Row],
    flight: tuple[int, int, str, int],
    sched_dep_ts: dt.datetime,
    dep_ts: dt.datetime,
    arr_ts: dt.datetime,
) -> None:
    fact = fact_of(*flight)

    assert (fact["sched_dep_ts"], fact["dep_ts"], fact["arr_ts"]) == (sched_dep_ts, dep_ts, arr_ts)


@pytest.mark.parametrize(
    ("time_hour", "sched_dep_ts"),
    [
        pytest.param(utc(2013, 11, 3, 5), utc(2013, 11, 3, 5, 30), id="first-0130-edt"),
        pytest.param(utc(2013, 11, 3, 6), utc(2013, 11, 3, 6, 30), id="second-0130-est"),
    ],
)
def test_time_hour_decides_which_repeated_0130_a_departure_was_scheduled_at(
    time_hour: dt.datetime, sched_dep_ts: dt.datetime
) -> None:
    source = synthetic(dt.date(2013, 11, 3), 130, 140, 10, time_hour=time_hour)

    fact = to_fact(source, ReferenceLookup(), NEW_YORK)

    assert fact["sched_dep_local"] == dt.datetime(2013, 11, 3, 1, 30)
    assert fact["sched_dep_ts"] == sched_dep_ts
    assert fact["dep_ts"] == sched_dep_ts + dt.timedelta(minutes=10)  # the delay picks the matching 01:40


@pytest.mark.parametrize(("month", "day"), [(1, 1), (3, 10), (11, 3)], ids=["jan-1", "spring-change", "autumn-change"])
def test_every_real_flight_of_a_day_becomes_a_valid_fact(
    real_day: RealDay, real_refs: ReferenceLookup, month: int, day: int
) -> None:
    sources = [SourceFlight.model_validate(row) for row in real_day(month, day)]

    facts = [to_fact(source, real_refs, NEW_YORK) for source in sources]

    assert len(facts) == len(sources)
    for fact in facts:
        FactFlight.model_validate(fact)
        assert fact["sched_dep_ts"] == localize(fact["sched_dep_local"], NEW_YORK, near=fact["sched_dep_ts"])
        if fact["dep_ts"] is not None:
            assert fact["dep_ts"] - fact["sched_dep_ts"] == dt.timedelta(minutes=fact["dep_delay_min"])
        if fact["arr_ts"] is not None and fact["air_time_min"] is not None:
            block = fact["arr_ts"] - fact["dep_ts"]
            assert dt.timedelta(minutes=fact["air_time_min"]) < block < dt.timedelta(minutes=fact["air_time_min"] + 240)
