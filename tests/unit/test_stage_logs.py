"""logs.py: every stage logs JSON lines with its counts, duration and the run's context.

The "flightdeck" logger writes JSON to stderr through its own handler and does not propagate, so
a plain root-logger handler never sees it (pytest 9's capture handlers are also attached to
non-propagating loggers: they are ignored here). Its stream handler binds sys.stderr when it is
created, so most tests attach a second handler with the same JSON formatter; one runs a stage in a
subprocess to read the real stderr.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pythonjsonlogger.json import JsonFormatter

from flightdeck.core.logs import LOGGER_NAME, get_logger, stage_log
from flightdeck.core.partition import Partition

Lines = Callable[[], list[dict[str, Any]]]

CONTEXT = Partition(
    pipeline="flights",
    start=dt.date(2013, 1, 1),
    end=dt.date(2013, 1, 2),
    dag_id="flights_daily",
    run_id="scheduled__2013-01-01T05:00:00+00:00",
).log_context()


def json_handlers(logger: logging.Logger) -> list[logging.Handler]:
    """The logger's own JSON handlers (not the ones pytest attaches to capture logs)."""
    return [handler for handler in logger.handlers if isinstance(handler.formatter, JsonFormatter)]


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """The JSON objects the flightdeck logger writes, parsed line by line."""
    project = get_logger()
    (installed,) = json_handlers(project)
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(installed.formatter)
    project.addHandler(capture)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        project.removeHandler(capture)


def test_the_project_logger_has_one_json_handler_and_does_not_propagate() -> None:
    get_logger()
    get_logger("flightdeck.extract")

    project = logging.getLogger(LOGGER_NAME)
    (handler,) = json_handlers(project)  # a second call does not add another handler
    assert isinstance(handler, logging.StreamHandler)
    assert project.propagate is False
    assert project.level == logging.INFO
    assert json_handlers(logging.getLogger("flightdeck.extract")) == []


def test_a_stage_logs_its_start_and_its_end_with_counts(json_lines: Lines) -> None:
    with stage_log("transform", CONTEXT) as counts:
        counts.records_in = 842
        counts.records_out = 841
        counts.rejected = 1

    started, finished = json_lines()
    assert started == {
        "ts": started["ts"],
        "level": "INFO",
        "logger": "flightdeck.transform",
        "message": "stage started",
        "event": "stage_started",
        "stage": "transform",
        **CONTEXT,
    }
    assert finished["event"] == "stage_finished"
    assert finished["level"] == "INFO"
    assert (finished["records_in"], finished["records_out"], finished["rejected"]) == (842, 841, 1)
    assert isinstance(finished["duration_s"], float)
    assert finished["duration_s"] >= 0
    assert {key: finished[key] for key in CONTEXT} == CONTEXT


def test_the_duration_is_also_left_on_the_counts(json_lines: Lines) -> None:
    with stage_log("load", CONTEXT) as counts:
        pass

    assert json_lines()[-1]["duration_s"] == counts.duration_s >= 0


def test_extra_counts_appear_on_the_finished_line(json_lines: Lines) -> None:
    with stage_log("check", CONTEXT) as counts:
        counts.extra.update({"duplicate_keys": 0, "null_keys": 0})

    finished = json_lines()[-1]
    assert (finished["duplicate_keys"], finished["null_keys"]) == (0, 0)


def extract_that_fails() -> None:
    with stage_log("extract", CONTEXT) as counts:
        counts.records_in = 10
        raise RuntimeError("COPY failed\nCONTEXT: COPY flights, line 7")


def test_a_failing_stage_logs_stage_failed_and_reraises(json_lines: Lines) -> None:
    with pytest.raises(RuntimeError, match="COPY failed"):
        extract_that_fails()

    started, failed = json_lines()
    assert started["event"] == "stage_started"
    assert failed["event"] == "stage_failed"
    assert failed["level"] == "ERROR"
    assert failed["stage"] == "extract"
    assert failed["error"] == "RuntimeError"
    assert failed["detail"] == "COPY failed"
    assert failed["duration_s"] >= 0
    assert {key: failed[key] for key in CONTEXT} == CONTEXT
    assert "records_in" not in failed


def test_an_interrupted_stage_is_logged_as_failed(json_lines: Lines) -> None:
    with pytest.raises(KeyboardInterrupt), stage_log("load", CONTEXT):
        raise KeyboardInterrupt

    failed = json_lines()[-1]
    assert (failed["event"], failed["error"], failed["detail"]) == ("stage_failed", "KeyboardInterrupt", "")


def test_stage_lines_go_to_stderr_as_json_and_nothing_to_stdout() -> None:
    script = (
        "from flightdeck.core.logs import stage_log\n"
        "with stage_log('extract', {'pipeline': 'flights', 'run_id': 'manual__1'}) as counts:\n"
        "    counts.records_in = counts.records_out = 5\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)

    assert done.stdout == ""
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["event"] for line in lines] == ["stage_started", "stage_finished"]
    assert lines[1]["records_out"] == 5
    assert {line["run_id"] for line in lines} == {"manual__1"}
