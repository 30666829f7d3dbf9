"""The weather API client: GET /v1/archive through the Airflow HTTP connection, with bounded retries.

Transient faults (timeouts, connection errors and resets, 5xx, 408, 429 with its Retry-After) are
retried by the project's retry policy (flightdeck.core.retry): exponential backoff and jitter, within
a number of attempts and a total time; when those run out the error is a TransientPipelineError
(Airflow's task retries take over). Permanent faults (other 4xx, a body that is not JSON, a payload
that breaks the response schema) raise PermanentPipelineError at once. Every message names the
request (its URL without secrets).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from pydantic import ValidationError
from tenacity import RetryCallState, wait_exponential_jitter
from tenacity.wait import wait_base

from flightdeck.core.errors import PermanentPipelineError, TransientPipelineError
from flightdeck.core.logs import get_logger
from flightdeck.core.retry import RetryPolicy, retrying
from flightdeck.core.validation import explain
from flightdeck.sources.weather.config import WeatherConfig, WeatherRetryConfig
from flightdeck.sources.weather.hours import partition_window, unknown_units, utc_days
from flightdeck.sources.weather.schemas import ArchiveResponse

# The units the request asks for: the documented units of core.weather_hourly.
UNIT_PARAMS = {"temperature_unit": "fahrenheit", "wind_speed_unit": "mph", "precipitation_unit": "inch"}
SECRET_PARAMS = frozenset({"apikey", "api_key", "key", "token", "access_token"})
TRANSIENT_STATUS = frozenset({408, 429})


# The request's time zone: the archive's hours as UTC days. Asked in a named zone, Open-Meteo answers
# every hour at the one UTC offset valid *when asked* (no DST switch inside a response), in slots of
# 24 from local midnight: the 25th hour of a fall-back day, or a whole hour of any day asked at the
# other season's offset, is then never in the answer. In GMT every hour is there, at its instant.
REQUEST_TIMEZONE = "GMT"


@dataclass(frozen=True)
class ArchiveRequest:
    """One airport's hourly weather for the API's days start..end (inclusive, as the API counts them).

    The days are those of `timezone` (GMT for the pipeline's requests: see request_for).
    """

    origin: str
    latitude: float
    longitude: float
    start: dt.date
    end: dt.date
    hourly: tuple[str, ...]
    timezone: str

    def params(self) -> dict[str, str]:
        return {
            "latitude": f"{self.latitude:g}",
            "longitude": f"{self.longitude:g}",
            "start_date": self.start.isoformat(),
            "end_date": self.end.isoformat(),
            "hourly": ",".join(self.hourly),
            "timezone": self.timezone,
            **UNIT_PARAMS,
        }


def request_for(cfg: WeatherConfig, origin: str, start: dt.date, end_exclusive: dt.date) -> ArchiveRequest:
    """The request that covers every hour of local days [start, end_exclusive) in the pipeline's zone.

    Asked in GMT for the UTC days those hours fall on (a New York day spans two); the extract keeps
    the hours inside the local days. 23, 24 or 25 hours a day, whatever the API's offset handling.
    """
    airport = cfg.airports[origin]
    first_day, last_day = utc_days(*partition_window(start, end_exclusive, cfg.timezone))
    return ArchiveRequest(
        origin=origin,
        latitude=airport.latitude,
        longitude=airport.longitude,
        start=first_day,
        end=last_day,
        hourly=tuple(cfg.hourly),
        timezone=REQUEST_TIMEZONE,
    )


class TransientFault(TransientPipelineError):
    """One failed attempt worth repeating; retry_after is the server's wish in seconds, if it said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotYetArchived(TransientPipelineError):
    """The day is after the archive's last day: not an error of the request, the data is not there yet.

    Transient for the task (the DAG's wait_for_archive sensor asks again, minutes apart), but not
    retried within the request: seconds later the archive has not grown.
    """

    def __init__(self, message: str, archive_end: dt.date | None = None) -> None:
        super().__init__(message)
        self.archive_end = archive_end

    def archive_end_text(self) -> str:
        return f"it ends on {self.archive_end}" if self.archive_end else "it does not reach that day yet"


_ALLOWED_RANGE = re.compile(r"out of allowed range from (\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})")


def archive_ends_before(reason: str, day: dt.date) -> dt.date | None:
    """The archive's last day when a 400's reason says the range ends before `day` (Open-Meteo's wording).

    `day` is the request's last day: a request whose last day is not archived yet is early, not wrong.
    """
    found = _ALLOWED_RANGE.search(reason)
    if found is None:
        return None
    last = dt.date.fromisoformat(found.group(2))
    return last if day > last else None


class HttpRunner(Protocol):
    """What the client needs of the http provider's HttpHook."""

    def run(
        self,
        endpoint: str | None = None,
        data: dict[str, Any] | str | None = None,
        headers: dict[str, Any] | None = None,
        extra_options: dict[str, Any] | None = None,
        **request_kwargs: Any,
    ) -> Any: ...

    def url_from_endpoint(self, endpoint: str | None) -> str: ...


def http_hook(conn_id: str) -> HttpRunner:
    from airflow.providers.http.hooks.http import HttpHook  # pyright: ignore[reportMissingTypeStubs]

    return HttpHook(method="GET", http_conn_id=conn_id)


def redact(url: str) -> str:
    """The URL without credentials: no user:password@, secret query parameters masked."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = [(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe=",/:*"), parts.fragment))


def retry_after_seconds(header: str | None, now: dt.datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


class _BackoffOrRetryAfter(wait_base):
    """Exponential backoff with jitter, or the server's Retry-After when it gave one (capped)."""

    def __init__(self, policy: WeatherRetryConfig) -> None:
        self.backoff = wait_exponential_jitter(initial=policy.initial_wait_s, max=policy.max_wait_s)
        self.cap = policy.max_total_s

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        failure = outcome.exception() if outcome is not None and outcome.failed else None
        if isinstance(failure, TransientFault) and failure.retry_after is not None:
            return min(failure.retry_after, self.cap)
        return self.backoff(retry_state)


def _reason(body: str) -> str:
    """Open-Meteo's {"error": true, "reason": "..."} or the start of the body."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:200] or "(empty body)"
    if isinstance(data, dict) and "reason" in data:
        return str(data["reason"])  # pyright: ignore[reportUnknownArgumentType]
    return body.strip()[:200]


def _keep_constant(name: str) -> str:
    # NaN and Infinity are not JSON: keep them as text, so validation rejects that one value.
    return name


class ArchiveClient:
    """Fetches and validates one airport's response per call."""

    def __init__(
        self,
        conn_id: str,
        endpoint: str,
        policy: WeatherRetryConfig,
        hook_factory: Callable[[str], HttpRunner] = http_hook,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conn_id = conn_id
        self.endpoint = endpoint
        self.policy = policy
        self.hook_factory = hook_factory
        self.sleep = sleep
        self._hook: HttpRunner | None = None

    @classmethod
    def from_config(cls, cfg: WeatherConfig) -> ArchiveClient:
        return cls(cfg.conn_id, cfg.endpoint, cfg.retry)

    def hook(self) -> HttpRunner:
        if self._hook is None:
            self._hook = self.hook_factory(self.conn_id)
        return self._hook

    def url(self, request: ArchiveRequest) -> str:
        base = self.hook().url_from_endpoint(self.endpoint)
        return redact(f"{base}?{urlencode(request.params(), safe=',/:')}")

    def fetch(self, request: ArchiveRequest) -> ArchiveResponse:
        where = f"GET {self.url(request)}"
        policy = self.policy
        log = get_logger("flightdeck.sources.weather.api")

        def before_sleep(state: RetryCallState) -> None:
            outcome = state.outcome
            failure = outcome.exception() if outcome is not None else None
            log.warning(
                "weather API request failed, retrying",
                extra={
                    "event": "http_retry",
                    "request": where,
                    "attempt": state.attempt_number,
                    "wait_s": round(state.upcoming_sleep, 3),
                    "cause": str(failure),
                },
            )

        # One attempt's transient fault is retried here; other transient errors (NotYetArchived: the
        # archive will not have grown seconds later) go straight to Airflow's task retries.
        retry = retrying(
            RetryPolicy(policy.attempts, policy.initial_wait_s, policy.max_wait_s, policy.max_total_s),
            retry_on=lambda exc: isinstance(exc, TransientFault),
            wait=_BackoffOrRetryAfter(policy),
            sleep=self.sleep,
            before_sleep=before_sleep,
        )
        started = time.monotonic()
        try:
            return retry(self._attempt, request, where)
        except TransientFault as exc:
            attempts = int(retry.statistics.get("attempt_number", 1))
            raise TransientPipelineError(
                f"{exc} (gave up after {attempts} attempt{'s' if attempts != 1 else ''} "
                f"in {time.monotonic() - started:.1f}s; the task's retries will try again)"
            ) from exc

    def _attempt(self, request: ArchiveRequest, where: str) -> ArchiveResponse:
        options = {
            "check_response": False,
            "timeout": (self.policy.connect_timeout_s, self.policy.read_timeout_s),
        }
        try:
            response = self.hook().run(self.endpoint, data=request.params(), extra_options=options)
        except requests.Timeout as exc:
            raise TransientFault(f"{where}: timed out ({type(exc).__name__})") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise TransientFault(f"{where}: connection failed ({type(exc).__name__}: {_first_line(exc)})") from exc
        except requests.RequestException as exc:
            raise PermanentPipelineError(f"{where}: bad request ({type(exc).__name__}: {_first_line(exc)})") from exc
        return self._parse(response, request, where)

    def _parse(self, response: Any, request: ArchiveRequest, where: str) -> ArchiveResponse:
        status = int(response.status_code)
        try:
            body = str(response.text)
        except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError) as exc:
            raise TransientFault(f"{where}: connection lost while reading the body ({type(exc).__name__})") from exc
        if status >= 500 or status in TRANSIENT_STATUS:
            wait = retry_after_seconds(response.headers.get("Retry-After")) if status in (429, 503) else None
            raise TransientFault(f"{where}: HTTP {status}: {_reason(body)}", retry_after=wait)
        if status >= 300:
            archive_end = archive_ends_before(_reason(body), request.end)
            if status == 400 and archive_end is not None:
                raise NotYetArchived(
                    f"{where}: HTTP 400: {_reason(body)}: the archive ends on {archive_end}, so the request's last "
                    f"day {request.end} ({request.timezone}) is not archived yet; the task's retries will ask again "
                    "(the public archive lags a few days)",
                    archive_end,
                )
            raise PermanentPipelineError(f"{where}: HTTP {status}: {_reason(body)}")
        try:
            data = json.loads(body, parse_constant=_keep_constant)
        except ValueError as exc:
            raise PermanentPipelineError(f"{where}: the body is not valid JSON ({exc}): {body[:80]!r}") from exc
        if isinstance(data, dict) and data.get("error") is True:  # pyright: ignore[reportUnknownMemberType]
            raise PermanentPipelineError(f"{where}: the API reported an error: {_reason(body)}")
        try:
            parsed = ArchiveResponse.model_validate(data, context={"variables": request.hourly})
        except ValidationError as exc:
            _, reason = explain(exc)
            raise PermanentPipelineError(f"{where}: the response breaks the archive schema: {reason}") from exc
        bad_units = unknown_units(parsed, request.hourly)
        if bad_units:
            raise PermanentPipelineError(f"{where}: units the pipeline cannot convert: {'; '.join(bad_units)}")
        return parsed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
