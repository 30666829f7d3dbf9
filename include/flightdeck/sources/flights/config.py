"""Settings of the flights pipeline (config/pipelines.yaml, pipelines.flights)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from flightdeck.core.config import ConnId, Identifier, PipelineSettings, QualifiedName, StrictModel, TargetConfig


class SourceConfig(StrictModel):
    conn_id: ConnId
    table: QualifiedName
    day_columns: tuple[Identifier, Identifier, Identifier]
    # A column the pipeline does not know appearing in the source: ignore it (True) or fail (False).
    allow_new_columns: bool = False


ColumnCheck = Literal["null_check", "distinct_check", "unique_check", "min", "max"]
Comparison = Literal["equal_to", "greater_than", "less_than", "geq_to", "leq_to", "tolerance"]
TableCheckSql = Annotated[str, Field(min_length=1, max_length=500)]


class QualityChecks(StrictModel):
    """Post-load data-quality checks on the run's partition (common-sql's check operators)."""

    # column -> check -> comparison -> value, as SQLColumnCheckOperator takes them.
    column_checks: dict[Identifier, dict[ColumnCheck, dict[Comparison, float]]] = Field(
        default_factory=dict[Identifier, dict[ColumnCheck, dict[Comparison, float]]]
    )
    # check name -> boolean SQL expression that every row of the partition must satisfy.
    table_checks: dict[Identifier, TableCheckSql] = Field(default_factory=dict[Identifier, TableCheckSql])


class FlightsConfig(PipelineSettings):
    source: SourceConfig
    target: TargetConfig
    chunk_rows: int = Field(ge=100, le=5_000_000)
    quality_checks: QualityChecks = Field(default_factory=QualityChecks)
    # A source day with no rows at all: not delivered yet (False: the extract fails as transient and
    # Airflow retries it, the loaded day untouched) or a day that really is empty (True: load it empty).
    allow_empty_partitions: bool = False
