"""The stage contract: every stage of every pipeline is a function of one StageContext.

A source package declares its pipeline once (a Pipeline: its audit name, its stages in order, its
local time zone and the connection it reads, both taken from its settings). The generic Airflow
operator, the CLI and the tests run any stage the same way: build the context, call the function.
Stages move data through the partition's staging tables, never through return values; what they
return is a summary (counts) for logs and tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.core.errors import PermanentPipelineError
from flightdeck.core.partition import Partition

# Covariant: a stage written for any settings with a target runs for every pipeline whose settings have one.
S = TypeVar("S", covariant=True)


@dataclass(frozen=True)
class Endpoints:
    """Where a pipeline reads and writes: SQLAlchemy URLs resolved from Airflow connections.

    `source` is the pipeline's source database; pipelines that read an API or files have none.
    """

    warehouse: URL
    source: URL | None = None

    def require_source(self) -> URL:
        if self.source is None:
            raise PermanentPipelineError("no source database connection for this pipeline")
        return self.source


@dataclass(frozen=True)
class StageContext(Generic[S]):
    """What a stage gets: its pipeline's settings, the run's partition, and where to read and write."""

    settings: S
    partition: Partition
    endpoints: Endpoints
    staging_schema: str

    @property
    def warehouse(self) -> URL:
        return self.endpoints.warehouse

    @property
    def source(self) -> URL:
        """The source database (a permanent error for a pipeline without one)."""
        return self.endpoints.require_source()

    def staging_table(self, kind: str) -> sql.Identifier:
        """The partition's staging table of this kind (raw, clean, ...)."""
        return self.partition.staging_table(self.staging_schema, kind)


Stage = Callable[[StageContext[S]], object]


def _no_source(settings: object) -> str | None:
    return None


@dataclass(frozen=True)
class Pipeline(Generic[S]):
    """A source's pipeline: its name in the audit tables and its stages, in the order a run calls them."""

    name: str
    stages: Mapping[str, Stage[S]]
    # The zone whose local calendar days are the pipeline's partitions.
    timezone: Callable[[S], str]
    # The Airflow connection of its source database, if it reads one.
    source_conn_id: Callable[[S], str | None] = field(default=_no_source)
    # Whether the partition's source data is there yet: None when it is, else what the run waits for
    # (one sentence). Pipelines whose source is always there have none.
    ready: Callable[[StageContext[S]], str | None] | None = None

    def stage(self, name: str) -> Stage[S]:
        try:
            return self.stages[name]
        except KeyError:
            known = ", ".join(self.stages)
            raise PermanentPipelineError(f"pipeline {self.name} has no stage {name!r} (stages: {known})") from None


@runtime_checkable
class ChangesOtherDays(Protocol):
    """A stage result that changed other days than its partition (or none): its asset event names those."""

    def changed_days(self) -> tuple[dt.date, dt.date] | None:
        """Local days [start, end) that changed, or None when nothing did."""
        ...


def changed_window(partition: Partition, result: Any) -> tuple[dt.date, dt.date] | None:
    """The days a stage's result changed: its own report, or else the partition it replaced."""
    if isinstance(result, ChangesOtherDays):
        return result.changed_days()
    return partition.start, partition.end
