"""The weather API client: retries on transient faults, fails fast on permanent ones (HTTP mocked)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests
import responses

from flightdeck.catalog import project_config
from flightdeck.core.errors import PermanentPipelineError, TransientPipelineError, is_transient
from flightdeck.sources.weather.api import (
    ArchiveClient,
    ArchiveRequest,
    NotYetArchived,
    redact,
    request_for,
    retry_after_seconds,
)
from flightdeck.sources.weather.config import WeatherRetryConfig
from flightdeck.sources.weather.extract import select_hours
from flightdeck.sources.weather.hours import expected_hours, hour_records, partition_window, utc_days
from flightdeck.sources.weather.transform import validate_and_transform

BASE = "http://weather.test"
URL = f"{BASE}/v1/archive"
DAY = dt.date(2013, 1, 1)
VARIABLES = ("temperature_2m", "relative_humidity_2m", "wind_direction_10m", "visibility")
POLICY = WeatherRetryConfig(
    attempts=4, initial_wait_s=1.0, max_wait_s=8.0, max_total_s=60.0, connect_timeout_s=1.0, read_timeout_s=1.0
)


def payload(hours: int = 24, **overrides: list[Any]) -> dict[str, Any]:
    """A well-formed /v1/archive body for EWR on 2013-01-01 (America/New_York)."""
    hourly: dict[str, list[Any]] = {
        "time": [f"2013-01-01T{hour:02d}:00" for hour in range(hours)],
        "temperature_2m": [39.0] * hours,
        "relative_humidity_2m": [60] * hours,
        "wind_direction_10m": [270] * hours,
        "visibility": [16093.44] * hours,
    }
    hourly.update(overrides)
    return {
        "latitude": 40.6925,
        "longitude": -74.168667,
        "generationtime_ms": 0.1,
        "utc_offset_seconds": -18000,
        "timezone": "America/New_York",
        "timezone_abbreviation": "EST",
        "elevation": 5.5,
        "hourly_units": {
            "time": "iso8601",
            "temperature_2m": "°F",
            "relative_humidity_2m": "%",
            "wind_direction_10m": "°",
            "visibility": "m",
        },
        "hourly": hourly,
    }


class Sleeps:
    """Records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, sleeps: Sleeps) -> ArchiveClient:
    monkeypatch.setenv("AIRFLOW_CONN_WEATHER_API", json.dumps({"conn_type": "http", "host": "weather.test"}))
    return ArchiveClient("weather_api", "/v1/archive", POLICY, sleep=sleeps)


# What request_for asks for the New York day 2013-01-01: the two UTC days its hours fall on, in GMT.
REQUEST = ArchiveRequest("EWR", 40.6925, -74.168667, DAY, DAY + dt.timedelta(days=1), VARIABLES, "GMT")


@responses.activate
def test_the_request_asks_in_gmt_for_the_utc_days_of_the_local_day_in_the_documented_units(
    client: ArchiveClient,
) -> None:
    responses.get(URL, json=payload())

    client.fetch(REQUEST)

    sent = responses.calls[0].request
    assert sent.method == "GET"
    params = dict(item.split("=", 1) for item in str(sent.url).split("?", 1)[1].split("&"))
    assert (params["start_date"], params["end_date"]) == ("2013-01-01", "2013-01-02")
    assert params["timezone"] == "GMT"
    assert params["hourly"] == "temperature_2m%2Crelative_humidity_2m%2Cwind_direction_10m%2Cvisibility"
    assert (params["temperature_unit"], params["wind_speed_unit"], params["precipitation_unit"]) == (
        "fahrenheit",
        "mph",
        "inch",
    )
    assert (params["latitude"], params["longitude"]) == ("40.6925", "-74.1687")


def test_the_configured_request_covers_the_run_day() -> None:
    request = request_for(project_config().weather_config(), "JFK", DAY, DAY + dt.timedelta(days=1))
    # 2013-01-01 00:00 EST is 05:00 UTC; 2013-01-02 00:00 EST is 05:00 UTC the next day.
    assert (request.start, request.end, request.timezone) == (DAY, DAY + dt.timedelta(days=1), "GMT")
    assert request.latitude == pytest.approx(40.639751)


@pytest.mark.parametrize(
    ("day", "hours", "first", "last"),
    [
        pytest.param(dt.date(2013, 3, 10), 23, "2013-03-10T05:00", "2013-03-11T03:00", id="spring-forward"),
        pytest.param(dt.date(2013, 7, 4), 24, "2013-07-04T04:00", "2013-07-05T03:00", id="summer"),
        pytest.param(dt.date(2013, 11, 3), 25, "2013-11-03T04:00", "2013-11-04T04:00", id="fall-back"),
        pytest.param(dt.date(2013, 12, 31), 24, "2013-12-31T05:00", "2014-01-01T04:00", id="new-year-s-eve"),
    ],
)
def test_every_local_hour_of_a_day_is_in_the_utc_days_requested(
    day: dt.date, hours: int, first: str, last: str
) -> None:
    cfg = project_config().weather_config()
    expected = expected_hours(day, day + dt.timedelta(days=1), cfg.timezone)
    request = request_for(cfg, "EWR", day, day + dt.timedelta(days=1))

    assert len(expected) == hours
    assert (f"{expected[0]:%Y-%m-%dT%H:%M}", f"{expected[-1]:%Y-%m-%dT%H:%M}") == (first, last)
    # One request per airport: the first and last hours' UTC days, which a New York day always spans two of.
    assert (request.start, request.end) == (expected[0].date(), expected[-1].date())
    assert (request.end - request.start).days == 1
    assert utc_days(*partition_window(day, day + dt.timedelta(days=1), cfg.timezone)) == (request.start, request.end)


def gmt_payload(start: dt.date, days: int) -> dict[str, Any]:
    """A /v1/archive body asked in GMT: 24 UTC hours a day from 00:00, a value in every slot."""
    body = payload(hours=24 * days)
    midnight = dt.datetime.combine(start, dt.time(0))
    body["hourly"]["time"] = [f"{midnight + dt.timedelta(hours=k):%Y-%m-%dT%H:%M}" for k in range(24 * days)]
    body.update({"utc_offset_seconds": 0, "timezone": "GMT", "timezone_abbreviation": "GMT"})
    return body


@pytest.mark.parametrize(("day", "hours"), [(dt.date(2013, 3, 10), 23), (dt.date(2013, 11, 3), 25)])
def test_a_gmt_answer_gives_every_hour_of_a_dst_day_and_nothing_else(day: dt.date, hours: int) -> None:
    from flightdeck.sources.weather.schemas import ArchiveResponse

    response = ArchiveResponse.model_validate(gmt_payload(day, 2), context={"variables": VARIABLES})
    window = partition_window(day, day + dt.timedelta(days=1), "America/New_York")

    kept, outside, empty = select_hours(hour_records(response, "EWR", VARIABLES), *window)

    assert [record.obs_hour for record in kept] == expected_hours(day, day + dt.timedelta(days=1), "America/New_York")
    assert (len(kept), outside, empty) == (hours, 48 - hours, [])


@responses.activate
def test_5xx_is_retried_with_exponential_backoff_until_it_succeeds(client: ArchiveClient, sleeps: Sleeps) -> None:
    responses.get(URL, status=503, json={"error": True, "reason": "busy"})
    responses.get(URL, status=503, json={"error": True, "reason": "busy"})
    responses.get(URL, json=payload())

    parsed = client.fetch(REQUEST)

    assert len(responses.calls) == 3
    assert len(parsed.hourly["time"]) == 24
    assert len(sleeps.waits) == 2
    # wait_exponential_jitter: initial * 2**n plus up to 1 s of jitter.
    assert 1.0 <= sleeps.waits[0] <= 2.0
    assert 2.0 <= sleeps.waits[1] <= 3.0


@responses.activate
def test_429_waits_as_long_as_retry_after_says(client: ArchiveClient, sleeps: Sleeps) -> None:
    responses.get(URL, status=429, headers={"Retry-After": "7"}, json={"error": True, "reason": "slow down"})
    responses.get(URL, json=payload())

    client.fetch(REQUEST)

    assert sleeps.waits == [7.0]


def test_retry_after_may_be_an_http_date() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None) is None


@responses.activate
def test_a_retry_after_beyond_the_time_budget_gives_up_as_a_transient_error(
    client: ArchiveClient, sleeps: Sleeps
) -> None:
    responses.get(URL, status=429, headers={"Retry-After": "3600"}, json={"error": True, "reason": "quota"})

    with pytest.raises(TransientPipelineError, match="HTTP 429: quota") as raised:
        client.fetch(REQUEST)

    assert len(responses.calls) == 1
    assert sleeps.waits == []
    assert is_transient(raised.value)


@responses.activate
def test_timeouts_are_retried_and_bounded(client: ArchiveClient, sleeps: Sleeps) -> None:
    for _ in range(POLICY.attempts):
        responses.get(URL, body=requests.exceptions.ReadTimeout("read timed out"))

    with pytest.raises(TransientPipelineError, match=r"timed out .*gave up after 4 attempts") as raised:
        client.fetch(REQUEST)

    assert len(responses.calls) == POLICY.attempts
    assert len(sleeps.waits) == POLICY.attempts - 1
    assert all(wait <= POLICY.max_wait_s + 1 for wait in sleeps.waits)
    assert "GET http://weather.test/v1/archive?latitude=40.6925" in str(raised.value)


@responses.activate
def test_a_connection_reset_then_success(client: ArchiveClient) -> None:
    responses.get(URL, body=requests.exceptions.ConnectionError("Connection reset by peer"))
    responses.get(URL, json=payload())

    assert client.fetch(REQUEST).utc_offset_seconds == -18000
    assert len(responses.calls) == 2


@responses.activate
def test_a_body_that_is_not_json_fails_at_once(client: ArchiveClient, sleeps: Sleeps) -> None:
    responses.get(URL, body="<html>gateway says hi</html>", content_type="text/html")

    with pytest.raises(PermanentPipelineError, match=r"GET http://weather\.test/v1/archive\?.*not valid JSON"):
        client.fetch(REQUEST)

    assert len(responses.calls) == 1
    assert sleeps.waits == []


@pytest.mark.parametrize("status", [400, 401, 404])
@responses.activate
def test_a_4xx_fails_at_once_with_the_api_s_reason(client: ArchiveClient, status: int) -> None:
    responses.get(URL, status=status, json={"error": True, "reason": "Parameter 'start_date' is out of range"})

    with pytest.raises(PermanentPipelineError, match=f"HTTP {status}: Parameter 'start_date' is out of range"):
        client.fetch(REQUEST)

    assert len(responses.calls) == 1


@responses.activate
def test_a_day_after_the_archive_s_last_day_is_not_archived_yet_and_retried_later(
    client: ArchiveClient, sleeps: Sleeps
) -> None:
    # Open-Meteo's archive lags a few days behind today; it answers 400 naming its range.
    reason = "Parameter 'start_date' is out of allowed range from 1940-01-01 to 2012-12-29"
    responses.get(URL, status=400, json={"error": True, "reason": reason})

    with pytest.raises(
        NotYetArchived, match=r"archive ends on 2012-12-29, so the request's last day 2013-01-02 \(GMT\) is not"
    ) as raised:
        client.fetch(REQUEST)

    # Not retried within the request (seconds later the archive has not grown): Airflow's retries ask again.
    assert len(responses.calls) == 1
    assert sleeps.waits == []
    assert is_transient(raised.value)


@responses.activate
def test_a_local_day_whose_last_utc_hours_are_not_archived_yet_is_not_archived_yet(client: ArchiveClient) -> None:
    # The archive holds 2013-01-01 (UTC) but not 2013-01-02, where New York's 2013-01-01 ends: early, not wrong.
    reason = "Parameter 'end_date' is out of allowed range from 1940-01-01 to 2013-01-01"
    responses.get(URL, status=400, json={"error": True, "reason": reason})

    with pytest.raises(NotYetArchived, match=r"archive ends on 2013-01-01, so the request's last day 2013-01-02"):
        client.fetch(REQUEST)


@responses.activate
def test_a_day_before_the_archive_s_first_day_fails_at_once(client: ArchiveClient) -> None:
    reason = "Parameter 'start_date' is out of allowed range from 2014-01-01 to 2026-11-20"
    responses.get(URL, status=400, json={"error": True, "reason": reason})

    with pytest.raises(PermanentPipelineError, match="HTTP 400: Parameter 'start_date' is out of allowed range"):
        client.fetch(REQUEST)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(payload(temperature_2m=[39.0] * 23), "hourly arrays differ in length", id="ragged-arrays"),
        pytest.param({**payload(), "hourly": {"time": ["2013-01-01T00:00"]}}, "requested hourly", id="no-variables"),
        pytest.param(payload(time=["yesterday"] * 24), "not an iso8601 local time", id="bad-time"),
        pytest.param({"latitude": 1}, "longitude", id="not-an-archive-response"),
        pytest.param(
            {**payload(), "hourly_units": {**payload()["hourly_units"], "visibility": "furlong"}},
            "visibility: 'furlong'",
            id="unknown-unit",
        ),
    ],
)
@responses.activate
def test_a_payload_that_breaks_the_schema_fails_at_once(client: ArchiveClient, body: Any, expected: str) -> None:
    responses.get(URL, json=body)

    with pytest.raises(PermanentPipelineError, match=expected):
        client.fetch(REQUEST)

    assert len(responses.calls) == 1


def test_urls_in_messages_carry_no_secrets() -> None:
    assert redact("https://user:pw@api.test:8443/v1/archive?apikey=s3cr3t&latitude=1") == (
        "https://api.test:8443/v1/archive?apikey=***&latitude=1"
    )


def _staged(body: dict[str, Any]) -> list[dict[str, Any]]:
    """What the extract stages for one response: the hours of the day that carry values."""
    from flightdeck.sources.weather.schemas import ArchiveResponse

    response = ArchiveResponse.model_validate(body, context={"variables": VARIABLES})
    start, end = partition_window(DAY, DAY + dt.timedelta(days=1), "America/New_York")
    kept, _, _ = select_hours(hour_records(response, "EWR", VARIABLES), start, end)
    return [
        {
            "source_row": number,
            "origin": record.origin,
            "obs_hour": record.obs_hour,
            "utc_offset_seconds": record.utc_offset_seconds,
            "raw": record.raw,
            "units": body["hourly_units"],
        }
        for number, record in enumerate(kept, start=1)
    ]


@responses.activate
def test_an_empty_day_is_a_valid_response_with_nothing_to_stage(client: ArchiveClient) -> None:
    nothing = [None] * 24
    body = payload(temperature_2m=nothing, relative_humidity_2m=nothing, wind_direction_10m=nothing, visibility=nothing)
    responses.get(URL, json=body)

    client.fetch(REQUEST)

    assert _staged(body) == []
    empty = payload(hours=0)
    assert _staged(empty) == []


def test_a_bad_hourly_value_rejects_that_hour_only() -> None:
    humidity: list[Any] = [60] * 24
    humidity[5] = 140
    direction: list[Any] = [270] * 24
    direction[6] = 400
    temperature: list[Any] = [39.0] * 24
    temperature[7] = 250.0
    temperature[8] = "NaN"  # what the client keeps of a NaN literal in the body
    rows = _staged(payload(relative_humidity_2m=humidity, wind_direction_10m=direction, temperature_2m=temperature))

    loaded, rejected = validate_and_transform(rows, "America/New_York")

    assert len(loaded) == 20
    assert [(r.stage, r.field) for r in rejected] == [
        ("post_extract", "relative_humidity_2m"),
        ("post_extract", "wind_direction_10m"),
        ("post_extract", "temperature_2m"),
        ("post_extract", "temperature_2m"),
    ]
    assert "less than or equal to 100" in rejected[0].reason
    assert rejected[0].raw["relative_humidity_2m"] == 140
    assert rejected[0].raw["time"] == "2013-01-01T05:00"
    assert "valid number" in rejected[3].reason


def test_visibility_is_loaded_in_metres_whatever_unit_the_api_answers() -> None:
    body = payload(visibility=[52800.0] * 24)
    body["hourly_units"]["visibility"] = "ft"

    loaded, _ = validate_and_transform(_staged(body), "America/New_York")

    assert loaded[0]["visib_m"] == pytest.approx(16093.44)
    assert loaded[0]["obs_hour"] == dt.datetime(2013, 1, 1, 5, tzinfo=dt.UTC)
    assert loaded[0]["obs_date"] == DAY


def test_partitions_are_local_days_of_23_and_25_hours() -> None:
    spring = partition_window(dt.date(2013, 3, 10), dt.date(2013, 3, 11), "America/New_York")
    autumn = partition_window(dt.date(2013, 11, 3), dt.date(2013, 11, 4), "America/New_York")
    assert spring[1] - spring[0] == dt.timedelta(hours=23)
    assert autumn[1] - autumn[0] == dt.timedelta(hours=25)
