"""Settings of the flights pipeline (config/pipelines.yaml, pipelines.flights)."""

from __future__ import annotations

from pydantic import Field

from flightdeck.core.config import ConnId, Identifier, PartitionedSettings, QualifiedName, StrictModel


class SourceConfig(StrictModel):
    conn_id: ConnId
    table: QualifiedName
    day_columns: tuple[Identifier, Identifier, Identifier]
    # A column the pipeline does not know appearing in the source: ignore it (True) or fail (False).
    allow_new_columns: bool = False


class FlightsConfig(PartitionedSettings):
    source: SourceConfig
    chunk_rows: int = Field(ge=100, le=5_000_000)
    # A source day with no rows at all: not delivered yet (False: the run waits for it, wait_for_source,
    # the loaded day untouched) or a day that really is empty (True: load it empty).
    allow_empty_partitions: bool = False
