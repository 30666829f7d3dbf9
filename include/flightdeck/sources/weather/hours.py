"""Pure functions: an API response -> hourly records -> observations in documented units -> warehouse rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flightdeck.sources.weather.schemas import ArchiveResponse, WeatherObservation

# API variable -> warehouse column. The documented unit of every column is in the DDL's comment.
COLUMNS: dict[str, str] = {
    "temperature_2m": "temp_f",
    "dew_point_2m": "dewp_f",
    "relative_humidity_2m": "humid_pct",
    "precipitation": "precip_in",
    "pressure_msl": "pressure_hpa",
    "wind_speed_10m": "wind_speed_mph",
    "wind_direction_10m": "wind_dir_deg",
    "wind_gusts_10m": "wind_gust_mph",
    "visibility": "visib_m",
}

Converter = Callable[[float], float]


def _same(value: float) -> float:
    return value


# For each variable: the unit strings the API may answer with (Open-Meteo's spelling) and how to
# convert each into the documented unit. The request asks for the documented units, but the
# public service answers visibility in feet when precipitation_unit=inch, so units are never assumed.
UNITS: dict[str, dict[str, Converter]] = {
    "temperature_2m": {"°F": _same, "°C": lambda c: c * 9 / 5 + 32},
    "dew_point_2m": {"°F": _same, "°C": lambda c: c * 9 / 5 + 32},
    "relative_humidity_2m": {"%": _same},
    "precipitation": {"inch": _same, "mm": lambda mm: mm / 25.4},
    "pressure_msl": {"hPa": _same},
    "wind_speed_10m": {
        "mp/h": _same,
        "km/h": lambda v: v / 1.609344,
        "m/s": lambda v: v / 0.44704,
        "kn": lambda v: v * 1.150779,
    },
    "wind_direction_10m": {"°": _same},
    "wind_gusts_10m": {
        "mp/h": _same,
        "km/h": lambda v: v / 1.609344,
        "m/s": lambda v: v / 0.44704,
        "kn": lambda v: v * 1.150779,
    },
    "visibility": {"m": _same, "ft": lambda ft: ft * 0.3048},
}
# Converted values keep a fixed precision, so that reruns and unit round trips compare equal.
DIGITS = 4
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class HourRecord:
    """One hour of one airport's response, exactly as the API gave it, with its instant."""

    origin: str
    obs_hour: dt.datetime
    utc_offset_seconds: int
    raw: dict[str, Any]

    def has_values(self) -> bool:
        return any(value is not None for name, value in self.raw.items() if name != "time")


def unknown_units(response: ArchiveResponse, variables: Sequence[str]) -> list[str]:
    """The requested variables whose unit the pipeline cannot convert ('name: unit')."""
    return [
        f"{name}: {response.hourly_units.get(name)!r}"
        for name in variables
        if response.hourly_units.get(name) not in UNITS.get(name, {})
    ]


def hour_records(response: ArchiveResponse, origin: str, variables: Sequence[str]) -> list[HourRecord]:
    """One record per hour: local `time` plus utc_offset_seconds gives the instant."""
    offset = dt.timedelta(seconds=response.utc_offset_seconds)
    records: list[HourRecord] = []
    for position, local in enumerate(response.hourly["time"]):
        instant = (dt.datetime.fromisoformat(str(local)) - offset).replace(tzinfo=dt.UTC)
        raw: dict[str, Any] = {"time": local}
        raw.update({name: response.hourly[name][position] for name in variables})
        records.append(HourRecord(origin, instant, response.utc_offset_seconds, raw))
    return records


def partition_window(start: dt.date, end: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The instants [from, to) of local days [start, end) in a zone (23 or 25 hours across DST)."""
    zone = ZoneInfo(timezone)
    first = dt.datetime.combine(start, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    last = dt.datetime.combine(end, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    return first, last


def expected_hours(start: dt.date, end: dt.date, timezone: str) -> list[dt.datetime]:
    """Every hour (UTC instant) of local days [start, end): 24 a day, 23 or 25 on the days the offset changes.

    Assumes whole-hour offsets and changes on the hour, as in America/New_York.
    """
    first, last = partition_window(start, end, timezone)
    count = int((last - first) / HOUR)
    return [first + k * HOUR for k in range(count)]


def utc_days(first: dt.datetime, last: dt.datetime) -> tuple[dt.date, dt.date]:
    """The UTC calendar days (first, last inclusive, as the API counts them) that hold instants [first, last)."""
    return first.astimezone(dt.UTC).date(), (last - HOUR).astimezone(dt.UTC).date()


def convert(record: Mapping[str, Any], units: Mapping[str, str]) -> dict[str, Any]:
    """Numbers converted into the documented units; anything else is left for validation to reject."""
    converted: dict[str, Any] = {}
    for name, value in record.items():
        converter = UNITS.get(name, {}).get(units.get(name, ""))
        if converter is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            converted[name] = round(converter(float(value)), DIGITS)
        else:
            converted[name] = value
    return converted


def observation_input(
    origin: str, obs_hour: dt.datetime, raw: Mapping[str, Any], units: Mapping[str, str]
) -> dict[str, Any]:
    """What WeatherObservation validates: the converted hourly values plus origin and instant."""
    return {**convert(raw, units), "origin": origin, "obs_hour": obs_hour}


def to_row(observation: WeatherObservation, zone: ZoneInfo) -> dict[str, Any]:
    """The warehouse row: the observation plus its local day (the partition)."""
    row = observation.model_dump()
    row["obs_date"] = observation.obs_hour.astimezone(zone).date()
    return row
