"""A run's partition: the local calendar days it covers and the names derived from them."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from psycopg import sql

MAX_IDENTIFIER_BYTES = 63


@dataclass(frozen=True)
class Partition:
    """Days [start, end) of one pipeline, processed by one DAG run."""

    pipeline: str
    start: dt.date
    end: dt.date
    dag_id: str
    run_id: str

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty partition: {self.start} to {self.end}")

    @property
    def key(self) -> dt.date:
        """The partition's identity in audit tables: its first day."""
        return self.start

    @property
    def label(self) -> str:
        days = (self.end - self.start).days
        return f"{self.start:%Y%m%d}" if days == 1 else f"{self.start:%Y%m%d}_{self.end:%Y%m%d}"

    def staging_table(self, schema: str, kind: str) -> sql.Identifier:
        """One staging table per pipeline, kind and partition: runs of other days never touch it."""
        name = f"{self.pipeline}_{kind}_p{self.label}"
        if len(name.encode()) > MAX_IDENTIFIER_BYTES:
            # PostgreSQL would silently truncate, and two partitions could share a table.
            digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:10]
            name = f"{name[: MAX_IDENTIFIER_BYTES - 11]}_{digest}"
        return sql.Identifier(schema, name)

    def log_context(self) -> dict[str, str]:
        return {
            "pipeline": self.pipeline,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "partition": self.start.isoformat(),
            "partition_end": self.end.isoformat(),
        }


def local_days(interval_start: dt.datetime, interval_end: dt.datetime, timezone: str) -> tuple[dt.date, dt.date]:
    """The local calendar days [start, end) that a data interval covers in the pipeline's zone."""
    zone = ZoneInfo(timezone)
    start = interval_start.astimezone(zone)
    end = interval_end.astimezone(zone)
    if start.time() != dt.time(0) or end.time() != dt.time(0):
        raise ValueError(
            f"data interval {interval_start.isoformat()} to {interval_end.isoformat()} does not fall on "
            f"local midnights in {timezone}: use a daily CronDataIntervalTimetable in that zone"
        )
    return start.date(), end.date()


def day_partition(pipeline: str, day: dt.date, dag_id: str = "manual", run_id: str = "manual") -> Partition:
    """The one-day partition of a pipeline (runs outside Airflow: the CLI, tests)."""
    return Partition(pipeline, day, day + dt.timedelta(days=1), dag_id, run_id)
