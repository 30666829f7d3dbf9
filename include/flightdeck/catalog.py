"""The catalog: every source's pipeline and settings, the project's configuration, the warehouse's DDL.

The one module that knows all the sources. flightdeck.core imports no source, no source imports
another; the operators, the DAG files and the CLI find a pipeline here by name and run its stages
through the stage contract (flightdeck.core.stage). Adding a source: its package, a settings section
below, one entry in `pipelines`, and its DDL files (if any) in DDL_FILES (documentation/development.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field
from sqlalchemy.engine import URL

from flightdeck.core.config import ConfigError, ConnId, Identifier, StrictModel, parse_yaml
from flightdeck.core.db import connect
from flightdeck.core.migrations import ensure_schema
from flightdeck.core.partition import Partition
from flightdeck.core.paths import config_path
from flightdeck.core.stage import Endpoints, Pipeline, StageContext
from flightdeck.marts import daily_route_performance
from flightdeck.sources.flights import pipeline as flights
from flightdeck.sources.flights.config import FlightsConfig
from flightdeck.sources.reference import pipeline as reference
from flightdeck.sources.reference.config import ReferenceConfig
from flightdeck.sources.weather import pipeline as weather
from flightdeck.sources.weather.config import WeatherConfig
from flightdeck.sources.world_airports import pipeline as world_airports
from flightdeck.sources.world_airports.config import WorldAirportsConfig
from flightdeck.warehouse import fact_keys, schema

# Every DDL file of the warehouse, in the order they apply (one migration path: core.migrations).
DDL_FILES: tuple[Path, ...] = (*schema.DDL, *world_airports.DDL, *daily_route_performance.DDL)
# Audit tables of the sources that their loads replace on every run: the loading role's grants.
REPLACED_TABLES: tuple[str, ...] = world_airports.REPLACED_TABLES


class ProjectConfig(StrictModel):
    """config/pipelines.yaml: the warehouse connection, the staging schema, and each source's settings."""

    warehouse_conn_id: ConnId
    staging_schema: Identifier
    # Database-sourced flight pipelines by name (the name is the pipeline's name in the audit).
    pipelines: dict[Identifier, FlightsConfig] = Field(min_length=1)
    reference: ReferenceConfig
    weather: WeatherConfig | None = None
    # airportsdata's airports beside the drop's (the reference_data DAG loads them when configured).
    world_airports: WorldAirportsConfig | None = None

    def pipeline(self, name: str) -> FlightsConfig:
        try:
            return self.pipelines[name]
        except KeyError:
            known = ", ".join(sorted(self.pipelines))
            raise ConfigError(f"no pipeline {name!r} in the configuration (known: {known})") from None

    def weather_config(self) -> WeatherConfig:
        if self.weather is None:
            raise ConfigError("no weather section in the configuration: the weather_hourly DAG needs one")
        return self.weather


def parse_config(text: str, origin: str = "<string>") -> ProjectConfig:
    """Parse YAML text into the project's configuration, or raise ConfigError naming the bad key."""
    return parse_yaml(text, ProjectConfig, origin)


def load_config(path: Path) -> ProjectConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from exc
    return parse_config(text, origin=str(path))


@lru_cache(maxsize=1)
def project_config() -> ProjectConfig:
    """The project's configuration, read once per process."""
    return load_config(config_path())


@dataclass(frozen=True)
class BoundPipeline:
    """A pipeline with its settings from the configuration."""

    pipeline: Pipeline[Any]
    settings: Any

    @property
    def name(self) -> str:
        return self.pipeline.name

    def timezone(self) -> str:
        return self.pipeline.timezone(self.settings)

    def source_conn_id(self) -> str | None:
        return self.pipeline.source_conn_id(self.settings)


def pipelines(project: ProjectConfig) -> dict[str, BoundPipeline]:
    """Every configured pipeline by its name in the audit tables."""
    found: dict[str, BoundPipeline] = {
        name: BoundPipeline(dataclasses.replace(flights.PIPELINE, name=name), settings)
        for name, settings in project.pipelines.items()
    }
    if project.weather is not None:
        found[weather.NAME] = BoundPipeline(weather.PIPELINE, project.weather)
    for name in project.reference.files:
        bound = BoundPipeline(reference.file_pipeline(name), project.reference)
        found[bound.name] = bound
    if project.world_airports is not None:
        found[world_airports.NAME] = BoundPipeline(world_airports.PIPELINE, project.world_airports)
    found[fact_keys.PIPELINE] = BoundPipeline(fact_keys.RESOLVE, project.reference)
    return found


def pipeline(project: ProjectConfig, name: str) -> BoundPipeline:
    found = pipelines(project)
    try:
        return found[name]
    except KeyError:
        raise ConfigError(f"no pipeline {name!r} in the configuration (known: {', '.join(sorted(found))})") from None


def stage_context(project: ProjectConfig, partition: Partition, endpoints: Endpoints) -> StageContext[Any]:
    """The context a stage of the partition's pipeline runs with."""
    bound = pipeline(project, partition.pipeline)
    return StageContext(bound.settings, partition, endpoints, project.staging_schema)


def ensure_warehouse(warehouse: URL, staging_schema: str) -> list[str]:
    """Create or complete the warehouse (every DDL file once per version) and the staging schema."""
    with connect(warehouse) as conn:
        return ensure_schema(conn, DDL_FILES, staging_schema)
