"""Weather: the API's response (as a whole), one hourly observation (post-extract), the warehouse row.

The response model checks the payload's shape: a failure there is permanent for the whole request.
The observation model checks one hour's values in the documented units: a failure rejects that hour.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from flightdeck.core.rules import RuleViolation
from flightdeck.warehouse.types import AirportCode

# Open-Meteo's iso8601 time format (local time of the requested timezone, no offset).
LOCAL_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")
# Two values rounded by the API to one decimal may differ by this much from the true relation.
ROUNDING_TOLERANCE = 0.15


class ArchiveResponse(BaseModel):
    """The JSON of GET /v1/archive: the fields the pipeline reads (others are ignored).

    `hourly` holds `time` and one array per requested variable, all of the same length;
    `hourly_units` names each array's unit.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    latitude: float
    longitude: float
    utc_offset_seconds: int = Field(ge=-18 * 3600, le=18 * 3600)
    timezone: str
    hourly_units: dict[str, str]
    hourly: dict[str, list[Any]]

    @model_validator(mode="after")
    def _aligned(self, info: ValidationInfo) -> Self:
        context: dict[str, Any] = info.context or {}
        times = self.hourly.get("time")
        if times is None:
            raise ValueError("hourly.time is missing")
        lengths = {name: len(values) for name, values in self.hourly.items()}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{name}={length}" for name, length in sorted(lengths.items()))
            raise ValueError(f"hourly arrays differ in length ({detail})")
        for position, value in enumerate(times):
            if not isinstance(value, str) or not LOCAL_HOUR.match(value):
                raise ValueError(f"hourly.time[{position}] is {value!r}, not an iso8601 local time YYYY-MM-DDTHH:MM")
            try:
                dt.datetime.fromisoformat(value)
            except ValueError as exc:
                raise ValueError(f"hourly.time[{position}] is {value!r}, not a real time") from exc
        requested: list[str] = list(context.get("variables", ()))
        missing = [name for name in requested if name not in self.hourly]
        if missing:
            raise ValueError(f"requested hourly variables missing from the response: {', '.join(missing)}")
        no_unit = [name for name in self.hourly if name not in self.hourly_units]
        if no_unit:
            raise ValueError(f"hourly_units names no unit for: {', '.join(no_unit)}")
        return self


_Temperature = Annotated[float, Field(ge=-60.0, le=135.0)]
_DewPoint = Annotated[float, Field(ge=-90.0, le=100.0)]


class WeatherObservation(BaseModel):
    """One hour at one origin airport, converted to the documented units (post-extract).

    Validate a dict keyed by the API's variable names (origin and obs_hour added by the extract).
    A missing value is null; a value outside its plausible range rejects the hour.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    origin: AirportCode
    obs_hour: Annotated[AwareDatetime, Field(description="the observation hour, as an instant")]
    temp_f: _Temperature | None = Field(
        default=None, validation_alias="temperature_2m", description="air temperature 2 m above ground, °F"
    )
    dewp_f: _DewPoint | None = Field(default=None, validation_alias="dew_point_2m", description="dew point, °F")
    humid_pct: Annotated[float, Field(ge=0.0, le=100.0)] | None = Field(
        default=None, validation_alias="relative_humidity_2m", description="relative humidity, %"
    )
    wind_dir_deg: Annotated[float, Field(ge=0.0, le=360.0)] | None = Field(
        default=None, validation_alias="wind_direction_10m", description="wind direction, degrees from north"
    )
    wind_speed_mph: Annotated[float, Field(ge=0.0, le=250.0)] | None = Field(
        default=None, validation_alias="wind_speed_10m", description="wind speed 10 m above ground, mph"
    )
    wind_gust_mph: Annotated[float, Field(ge=0.0, le=300.0)] | None = Field(
        default=None, validation_alias="wind_gusts_10m", description="wind gusts, mph"
    )
    precip_in: Annotated[float, Field(ge=0.0, le=20.0)] | None = Field(
        default=None, validation_alias="precipitation", description="precipitation in the hour, inches"
    )
    pressure_hpa: Annotated[float, Field(ge=850.0, le=1100.0)] | None = Field(
        default=None, validation_alias="pressure_msl", description="sea-level pressure, hPa (millibars)"
    )
    visib_m: Annotated[float, Field(ge=0.0, le=100_000.0)] | None = Field(
        default=None, validation_alias="visibility", description="visibility, metres"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for rule in OBSERVATION_RULES:
            rule(self)
        return self


def _whole_hour(o: WeatherObservation) -> None:
    """obs_hour is a whole hour."""
    if (o.obs_hour.minute, o.obs_hour.second, o.obs_hour.microsecond) != (0, 0, 0):
        raise RuleViolation("time", "the observation time is not on the hour")


def _dew_point_not_above_temperature(o: WeatherObservation) -> None:
    """dew point is not above the air temperature (when both are known)."""
    if o.dewp_f is not None and o.temp_f is not None and o.dewp_f > o.temp_f + ROUNDING_TOLERANCE:
        raise RuleViolation("dew_point_2m", f"dew point {o.dewp_f} °F is above the temperature {o.temp_f} °F")


def _gusts_not_below_wind(o: WeatherObservation) -> None:
    """wind gusts are not below the mean wind speed (when both are known)."""
    if (
        o.wind_gust_mph is not None
        and o.wind_speed_mph is not None
        and o.wind_gust_mph + ROUNDING_TOLERANCE < o.wind_speed_mph
    ):
        raise RuleViolation(
            "wind_gusts_10m", f"wind gusts {o.wind_gust_mph} mph are below the wind speed {o.wind_speed_mph} mph"
        )


OBSERVATION_RULES = (_whole_hour, _dew_point_not_above_temperature, _gusts_not_below_wind)


class WeatherRow(BaseModel):
    """One row of core.weather_hourly, validated after the transform (post_transform).

    Validate with context={"timezone": ...}.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: AirportCode
    obs_hour: AwareDatetime
    obs_date: Annotated[dt.date, Field(description="local calendar day of obs_hour: the partition")]
    temp_f: float | None
    dewp_f: float | None
    humid_pct: float | None
    wind_dir_deg: float | None
    wind_speed_mph: float | None
    wind_gust_mph: float | None
    precip_in: float | None
    pressure_hpa: float | None
    visib_m: float | None

    @model_validator(mode="after")
    def _partition_day(self, info: ValidationInfo) -> Self:
        context: dict[str, str] = info.context or {}
        zone = ZoneInfo(context.get("timezone", "America/New_York"))
        if self.obs_hour.astimezone(zone).date() != self.obs_date:
            raise RuleViolation("obs_date", "obs_date is not the local day of obs_hour")
        return self
