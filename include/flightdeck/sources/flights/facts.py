"""Turn validated source flights into warehouse fact rows.

Local HHMM clock times become timestamps: departures in the origin's zone, arrivals in the
destination's zone (when the reference data knows it). A departure after midnight belongs to the
next day; an arrival whose clock time is earlier than the departure's landed on the next day.
Codes missing from the reference data map to the dimension's 'unknown' member (key -1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flightdeck.sources.flights.schemas import MINUTES_PER_DAY, FlightStatus, SourceFlight
from flightdeck.warehouse.types import hhmm_to_minutes

UNKNOWN_KEY = -1


@dataclass(frozen=True)
class ReferenceLookup:
    """Dimension keys by natural key, and each airport's IANA time zone where known."""

    airports: Mapping[str, tuple[int, str | None]] = field(default_factory=dict[str, tuple[int, str | None]])
    carriers: Mapping[str, int] = field(default_factory=dict[str, int])
    aircraft: Mapping[str, int] = field(default_factory=dict[str, int])

    def airport_key(self, code: str) -> int:
        found = self.airports.get(code)
        return found[0] if found else UNKNOWN_KEY

    def airport_zone(self, code: str) -> ZoneInfo | None:
        found = self.airports.get(code)
        if not found or not found[1]:
            return None
        return zone(found[1])


_zones: dict[str, ZoneInfo] = {}


def zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo (constructing one per row is measurable)."""
    found = _zones.get(name)
    if found is None:
        found = _zones[name] = ZoneInfo(name)
    return found


def wall_clock(day: dt.date, hhmm: int) -> dt.datetime:
    """The naive local datetime of an HHMM clock time on a day (2400 is the next midnight)."""
    return dt.datetime.combine(day, dt.time(0)) + dt.timedelta(minutes=hhmm_to_minutes(hhmm))


def localize(wall: dt.datetime, tz: ZoneInfo, near: dt.datetime | None = None) -> dt.datetime:
    """Attach a zone to a wall-clock time, resolving daylight-saving edge cases.

    Where the two readings of a wall time differ (the repeated hour in autumn, the skipped hour
    in spring) the one closest to `near` wins: the instant the schedule and delay predict.
    Without a hint, the first reading: daylight time in autumn, and in the spring gap the offset
    before the change, as a clock not yet moved would read.
    """
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset() or near is None:
        return first
    # Aware datetimes in one zone compare by wall time; compare instants in UTC instead.
    if abs(first.astimezone(dt.UTC) - near) <= abs(second.astimezone(dt.UTC) - near):
        return first
    return second


def flight_status(source: SourceFlight) -> FlightStatus:
    if source.dep_time is None:
        return "cancelled"
    if source.arr_time is None or source.arr_delay is None:
        return "diverted"
    return "completed"


def to_fact(source: SourceFlight, refs: ReferenceLookup, origin_zone: ZoneInfo) -> dict[str, Any]:
    """One fact row from one validated source flight."""
    flight_date = dt.date(source.year, source.month, source.day)
    sched_dep_ts = source.time_hour.astimezone(dt.UTC) + dt.timedelta(minutes=source.minute)
    sched_dep_local = wall_clock(flight_date, source.sched_dep_time)
    sched_arr_local = wall_clock(flight_date, source.sched_arr_time)
    if source.sched_arr_time < source.sched_dep_time:
        sched_arr_local += dt.timedelta(days=1)

    dep_local = dep_ts = arr_local = arr_ts = None
    if source.dep_time is not None and source.dep_delay is not None:
        # The delay says how many midnights lie between the scheduled and the actual clock time.
        sched_minutes = hhmm_to_minutes(source.sched_dep_time)
        day_offset = (sched_minutes + source.dep_delay - hhmm_to_minutes(source.dep_time)) // MINUTES_PER_DAY
        dep_local = wall_clock(flight_date + dt.timedelta(days=day_offset), source.dep_time)
        expected = sched_dep_ts + dt.timedelta(minutes=source.dep_delay)
        dep_ts = localize(dep_local, origin_zone, near=expected).astimezone(dt.UTC)
        if source.arr_time is not None:
            arr_local = wall_clock(dep_local.date(), source.arr_time)
            if arr_local < dep_local:
                arr_local += dt.timedelta(days=1)
            dest_zone = refs.airport_zone(source.dest)
            if dest_zone is not None:
                arr_ts = localize(arr_local, dest_zone).astimezone(dt.UTC)

    status = flight_status(source)
    return {
        "origin": source.origin,
        "carrier": source.carrier,
        "flight": source.flight,
        "sched_dep_ts": sched_dep_ts,
        "flight_date": flight_date,
        "dest": source.dest,
        "tailnum": source.tailnum,
        "origin_airport_key": refs.airport_key(source.origin),
        "dest_airport_key": refs.airport_key(source.dest),
        "carrier_key": refs.carriers.get(source.carrier, UNKNOWN_KEY),
        "aircraft_key": refs.aircraft.get(source.tailnum, UNKNOWN_KEY) if source.tailnum else UNKNOWN_KEY,
        "status": status,
        "is_cancelled": status == "cancelled",
        "sched_dep_local": sched_dep_local,
        "dep_ts": dep_ts,
        "dep_local": dep_local,
        "sched_arr_local": sched_arr_local,
        "arr_local": arr_local,
        "arr_ts": arr_ts,
        "dep_delay_min": source.dep_delay,
        "arr_delay_min": source.arr_delay,
        "air_time_min": source.air_time,
        "distance_mi": source.distance,
        "source_flight_id": source.flight_id,
    }
