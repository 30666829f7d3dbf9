"""Structured JSON logs: one object per event, with the run id and partition on every stage line."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from pythonjsonlogger.json import JsonFormatter

LOGGER_NAME = "flightdeck"
# Where the JSON lines go instead of stderr (the CLI demo sets it to keep its output readable).
LOG_FILE_VAR = "FLIGHTDECK_LOG_FILE"


def get_logger(name: str = LOGGER_NAME) -> logging.Logger:
    """The project logger; JSON on stderr unless a handler was already configured by the caller."""
    logger = logging.getLogger(name)
    root = logging.getLogger(LOGGER_NAME)
    if not root.handlers:
        target = os.environ.get(LOG_FILE_VAR)
        handler: logging.Handler
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            handler = RotatingFileHandler(target, maxBytes=20_000_000, backupCount=3, encoding="utf-8")
        else:
            handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            )
        )
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        # Airflow's task log handlers would print the JSON again with their own prefix.
        root.propagate = False
    return logger


@dataclass
class StageCounts:
    """Records in, out and rejected for one stage; filled in while the stage runs."""

    records_in: int = 0
    records_out: int = 0
    rejected: int = 0
    duration_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict[str, Any])


@contextmanager
def stage_log(stage: str, context: Mapping[str, Any]) -> Generator[StageCounts]:
    """Log a stage's start, and its end with counts and duration (or its failure)."""
    log = get_logger(f"{LOGGER_NAME}.{stage}")
    counts = StageCounts()
    started = time.perf_counter()
    log.info("stage started", extra={"event": "stage_started", "stage": stage, **context})
    try:
        yield counts
    except BaseException as exc:
        log.error(
            "stage failed",
            extra={
                "event": "stage_failed",
                "stage": stage,
                "error": type(exc).__name__,
                "detail": str(exc).splitlines()[0] if str(exc) else "",
                "duration_s": round(time.perf_counter() - started, 3),
                **context,
            },
        )
        raise
    counts.duration_s = round(time.perf_counter() - started, 3)
    log.info(
        "stage finished",
        extra={
            "event": "stage_finished",
            "stage": stage,
            "records_in": counts.records_in,
            "records_out": counts.records_out,
            "rejected": counts.rejected,
            "duration_s": counts.duration_s,
            **counts.extra,
            **context,
        },
    )
