"""Fault injection on the weather API through a real local HTTP server in front of the replay:
transient faults are retried within bounds, permanent ones fail at once, and after each fault the
rerun's warehouse equals a clean run's. Nothing half-loaded is ever visible."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig
from flightdeck.core.errors import PermanentPipelineError, is_transient
from flightdeck.core.partition import day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.sources.weather import pipeline as stages
from flightdeck_tools.weather_replay import serve_in_background
from tests.support import stage_context, table_checksum

DAY = day_partition("weather", dt.date(2013, 1, 1))
KEY_ORDER = "origin, obs_hour"


class FaultyProxy:
    """Forwards to the replay server, except for the scripted faults, one per request, in order."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.script: list[str] = []
        self.seen: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with proxy.lock:
                    fault = proxy.script.pop(0) if proxy.script else "ok"
                    proxy.seen.append((time.monotonic(), fault))
                if fault == "503":
                    self._reply(503, b'{"error": true, "reason": "overloaded"}')
                elif fault.startswith("429:"):
                    self._reply(429, b'{"error": true, "reason": "slow down"}', {"Retry-After": fault[4:]})
                elif fault.startswith("hang:"):
                    time.sleep(float(fault[5:]))
                    self._reply(200, self._forward())
                elif fault == "reset":
                    self.connection.close()
                elif fault == "truncate":
                    body = self._forward()
                    self._reply(200, body[: len(body) // 2])
                elif fault == "not-json":
                    self._reply(200, b"<html>maintenance</html>")
                else:
                    self._reply(200, self._forward())

            def _forward(self) -> bytes:
                url = f"http://127.0.0.1:{proxy.upstream}{self.path}"
                try:
                    with urllib.request.urlopen(url, timeout=10) as response:
                        return bytes(response.read())
                except urllib.error.HTTPError as exc:
                    return bytes(exc.read())

            def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def proxy() -> Iterator[FaultyProxy]:
    replay = serve_in_background(port=0)
    faulty = FaultyProxy(int(replay.server_address[1]))
    yield faulty
    faulty.server.shutdown()
    replay.shutdown()


@pytest.fixture
def fast_project(project: ProjectConfig, proxy: FaultyProxy, monkeypatch: pytest.MonkeyPatch) -> ProjectConfig:
    """The project with the API behind the faulty proxy and retry bounds small enough for a test."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_WEATHER_API", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": proxy.port})
    )
    proxy.script.clear()
    proxy.seen.clear()
    weather = project.weather_config()
    retry = weather.retry.model_copy(
        update={"attempts": 4, "initial_wait_s": 0.1, "max_wait_s": 0.5, "max_total_s": 20.0, "read_timeout_s": 1.0}
    )
    return project.model_copy(update={"weather": weather.model_copy(update={"retry": retry})})


def run_all(warehouse: URL, project: ProjectConfig) -> None:
    stages.extract(stage_context(project, DAY, Endpoints(warehouse=warehouse)))
    stages.transform(stage_context(project, DAY, Endpoints(warehouse=warehouse)))
    stages.load(stage_context(project, DAY, Endpoints(warehouse=warehouse)))
    stages.check(stage_context(project, DAY, Endpoints(warehouse=warehouse)))


@pytest.mark.parametrize(
    "faults",
    [["503", "503"], ["429:1"], ["hang:3"], ["reset"], ["503", "reset", "429:0"]],
    ids=["503-burst", "429-retry-after", "timeout", "connection-reset", "mixed"],
)
def test_transient_faults_are_retried_and_the_day_loads_as_if_nothing_happened(
    warehouse_url: URL, fast_project: ProjectConfig, proxy: FaultyProxy, faults: list[str]
) -> None:
    run_all(warehouse_url, fast_project)
    clean = table_checksum(warehouse_url, "core.weather_hourly", KEY_ORDER)
    proxy.script[:] = faults
    proxy.seen.clear()

    run_all(warehouse_url, fast_project)

    assert [fault for _, fault in proxy.seen[: len(faults)]] == faults
    assert len(proxy.seen) == len(faults) + 3  # every fault retried, then one answer per airport
    assert table_checksum(warehouse_url, "core.weather_hourly", KEY_ORDER) == clean


def test_retry_after_is_honoured(warehouse_url: URL, fast_project: ProjectConfig, proxy: FaultyProxy) -> None:
    proxy.script[:] = ["429:2"]

    stages.extract(stage_context(fast_project, DAY, Endpoints(warehouse=warehouse_url)))

    (first, _), (second, _) = proxy.seen[:2]
    assert second - first >= 1.9  # waited at least what the server asked, however slow the machine


@pytest.mark.parametrize("fault", ["truncate", "not-json"])
def test_a_broken_body_fails_at_once_and_leaves_the_loaded_day_alone(
    warehouse_url: URL, fast_project: ProjectConfig, proxy: FaultyProxy, fault: str
) -> None:
    run_all(warehouse_url, fast_project)
    clean = table_checksum(warehouse_url, "core.weather_hourly", KEY_ORDER)
    proxy.script[:] = [fault]
    proxy.seen.clear()

    with pytest.raises(PermanentPipelineError, match="/v1/archive") as caught:
        stages.extract(stage_context(fast_project, DAY, Endpoints(warehouse=warehouse_url)))

    assert not is_transient(caught.value)
    assert len(proxy.seen) == 1  # not retried
    assert table_checksum(warehouse_url, "core.weather_hourly", KEY_ORDER) == clean
    run_all(warehouse_url, fast_project)  # the rerun after the fault
    assert table_checksum(warehouse_url, "core.weather_hourly", KEY_ORDER) == clean


def test_a_burst_longer_than_the_retry_bounds_is_transient_for_airflow_to_retry(
    warehouse_url: URL, fast_project: ProjectConfig, proxy: FaultyProxy
) -> None:
    proxy.script[:] = ["503"] * 10

    with pytest.raises(Exception) as caught:  # noqa: PT011 - the taxonomy decides, not the type
        stages.extract(stage_context(fast_project, DAY, Endpoints(warehouse=warehouse_url)))

    assert is_transient(caught.value)
    assert len(proxy.seen) == 4  # the configured attempts, then it is Airflow's turn
