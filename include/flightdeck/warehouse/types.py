"""Field types shared by the schemas: clock times, codes, bounded quantities."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field

from flightdeck.core.rules import sql_counterpart


# SQL's mod() truncates where Python's divmod floors: for negative values the minutes are mod() + 100.
@sql_counterpart("{value} <= 2400 AND (mod({value}, 100) BETWEEN 0 AND 59 OR mod({value}, 100) <= -41)")
def _valid_hhmm(value: int) -> int:
    hours, minutes = divmod(value, 100)
    if minutes > 59 or hours > 24 or (hours == 24 and minutes != 0):
        raise ValueError(f"{value} is not a valid HHMM clock time")
    return value


# A local clock time written as the integer HHMM; 2400 is the source's spelling of midnight
# at the end of the day (a departure just after 23:59).
ClockHHMM = Annotated[
    int,
    Field(ge=0, le=2400, description="local clock time HHMM, minutes 00-59; 2400 is the midnight ending the day"),
    AfterValidator(_valid_hhmm),
]
# Scheduled times are never 2400: schedules use 0000 of the next day.
ScheduledHHMM = Annotated[
    int, Field(ge=0, le=2359, description="scheduled local clock time HHMM, minutes 00-59"), AfterValidator(_valid_hhmm)
]

AirportCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="IATA airport code")]
CarrierCode = Annotated[str, Field(pattern=r"^[A-Z0-9]{2}$", description="IATA carrier code")]
# Aircraft registrations: US N-numbers (N + up to 5) and the odd foreign registration.
TailNumber = Annotated[str, Field(pattern=r"^[A-Z0-9]{2,6}$", description="aircraft registration")]
FlightNumber = Annotated[int, Field(ge=1, le=9999, description="flight number")]

DepDelayMinutes = Annotated[
    int, Field(ge=-120, le=1439, description="minutes; up to 2 hours early, less than a day late")
]
ArrDelayMinutes = Annotated[
    int, Field(ge=-240, le=1439, description="minutes; up to 4 hours early, less than a day late")
]
AirTimeMinutes = Annotated[int, Field(ge=1, le=1200, description="minutes in the air")]
DistanceMiles = Annotated[int, Field(gt=0, le=10_000, description="statute miles between the airports")]

# Ground speed implied by distance and air time, in miles per hour: outside this range the
# air time (or the distance) is wrong. The fastest airliner ground speeds with a jet-stream
# tailwind stay below 700 mph.
MIN_GROUND_SPEED_MPH = 50.0
MAX_GROUND_SPEED_MPH = 700.0


def hhmm_to_minutes(value: int) -> int:
    hours, minutes = divmod(value, 100)
    return hours * 60 + minutes


def iana_zone(value: str | None) -> str | None:
    """An IANA time zone name (or None), as zoneinfo knows it: the zone of a dimension member."""
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone") from exc
    return value


IanaZone = Annotated[str | None, AfterValidator(iana_zone)]
