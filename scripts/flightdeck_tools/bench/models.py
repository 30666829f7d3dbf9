"""The benchmark's results: what a worker reports for one run, and what bench/results.json holds."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Method = Literal[
    "pipeline", "pipeline_rerun", "pipeline_rejected", "copy_pk", "to_sql", "to_sql_psycopg2", "insert_rows"
]
# Run in this order within every repeat: the rerun must follow the first run of the same partition.
METHODS: tuple[Method, ...] = (
    "pipeline",
    "pipeline_rerun",
    "pipeline_rejected",
    "copy_pk",
    "to_sql",
    "to_sql_psycopg2",
    "insert_rows",
)
# The pipeline on a valid day (the RSS targets on valid days); pipeline_rejected runs on a day of invalid rows.
PIPELINE_METHODS: frozenset[Method] = frozenset({"pipeline", "pipeline_rerun"})
Stage = Literal["extract", "transform", "load", "check"]
Status = Literal["PASS", "FAIL", "N/A"]

Seconds = Annotated[float, Field(ge=0.0, description="wall-clock seconds")]
Rows = Annotated[int, Field(ge=0, description="rows")]
Megabytes = Annotated[float, Field(ge=0.0, description="megabytes (2**20 bytes)")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageRun(_Model):
    """One pipeline stage function of one run: its wall time and the rows it handled."""

    stage: Stage
    seconds: Seconds
    rows: Rows


class MethodRun(_Model):
    """One measured run of one method, as its worker process reports it."""

    method: Method
    repeat: Annotated[int, Field(ge=0)]
    rows: Rows = Field(description="rows of the partition, the rows the figure stands for")
    measured_rows: Rows = Field(description="rows actually moved: fewer than rows when the method was sampled")
    seconds: Seconds = Field(description="the measured work, without interpreter start and imports")
    peak_rss_mb: Megabytes = Field(description="the worker process's peak resident set size (ru_maxrss)")
    start_rss_mb: Megabytes = Field(description="the worker's resident set size after imports, before the work")
    target_rows: Rows = Field(description="rows in the target table afterwards (for the pipeline: the day's facts)")
    stages: tuple[StageRun, ...] = ()
    loaded: Rows | None = None
    rejected: Rows | None = None
    duplicates: Rows | None = None

    @property
    def sampled(self) -> bool:
        return self.measured_rows < self.rows

    @property
    def full_seconds(self) -> float:
        """Seconds for all rows: measured, or extrapolated from the sample's cost per row."""
        if not self.sampled:
            return self.seconds
        return self.seconds * self.rows / max(self.measured_rows, 1)


class StageSummary(_Model):
    stage: Stage
    median_seconds: Seconds
    rows_per_s: Annotated[float, Field(ge=0.0)]


class MethodSummary(_Model):
    """One method at one partition size: medians over the repeats."""

    method: Method
    rows: Rows
    runs: Annotated[int, Field(ge=1)]
    median_seconds: Seconds = Field(description="median over the runs; extrapolated to all rows when sampled")
    rows_per_s: Annotated[float, Field(ge=0.0)]
    us_per_row: Annotated[float, Field(ge=0.0, description="microseconds per row")]
    ratio_to_copy_pk: Annotated[float, Field(ge=0.0)] | None = Field(
        description="median seconds over copy_pk's median seconds for the same rows"
    )
    peak_rss_mb: Megabytes = Field(description="the highest peak RSS of the method's runs")
    start_rss_mb: Megabytes
    extrapolated: bool = Field(description="measured on sample_rows rows, seconds scaled to all rows")
    sample_rows: Rows | None = None
    stages: tuple[StageSummary, ...] = ()


class SizeResult(_Model):
    rows: Rows = Field(description="the requested partition size")
    generated_rows: Rows
    generate_seconds: Seconds
    methods: tuple[MethodSummary, ...]
    runs: tuple[MethodRun, ...]

    def method(self, name: Method) -> MethodSummary | None:
        return next((summary for summary in self.methods if summary.method == name), None)


class Target(_Model):
    """One of the issue's targets, evaluated on the measured figures."""

    name: str
    requirement: str
    status: Status
    measured: str


class Machine(_Model):
    cpu_count: int
    cpu_model: str
    ram_gb: float
    postgres_version: str
    python_version: str
    platform: str
    packages: dict[str, str]


class BenchResults(_Model):
    """bench/results.json."""

    schema_version: Literal[1] = 1
    generated_at: AwareDatetime
    command: str
    bench_day: dt.date
    repeats: Annotated[int, Field(ge=1)]
    sample_cap: Annotated[int, Field(ge=1)]
    chunk_rows: Annotated[int, Field(ge=1)]
    methods: tuple[Method, ...]
    machine: Machine
    code_fingerprint: str = Field(description="sha256 of the flightdeck sources the workers import")
    code_changed_during_run: bool
    total_seconds: Seconds
    load_average_start: tuple[float, float, float] = Field(description="1, 5 and 15 min load average before")
    load_average_end: tuple[float, float, float] = Field(description="1, 5 and 15 min load average after")
    sizes: tuple[SizeResult, ...]
    targets: tuple[Target, ...]
