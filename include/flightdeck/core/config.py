"""Pipeline configuration: YAML in config/, parsed into strict Pydantic models at start-up.

Unknown keys and bad values fail with Pydantic's message, which names the offending key path.
Identifiers are validated here so that nothing unexpected ever reaches SQL composition.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from flightdeck.core.paths import PROJECT_ROOT, config_path

Identifier = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
QualifiedName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$")]
ConnId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]
LANDING_DIR_ENV = "FLIGHTDECK_LANDING_DIR"


def _known_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_known_timezone)]


class ConfigError(ValueError):
    """The configuration file is missing or invalid; the message says where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    conn_id: ConnId
    table: QualifiedName
    day_columns: tuple[Identifier, Identifier, Identifier]
    # A column the pipeline does not know appearing in the source: ignore it (True) or fail (False).
    allow_new_columns: bool = False


class TargetConfig(_Strict):
    table: QualifiedName
    partition_column: Identifier
    key: tuple[Identifier, ...] = Field(min_length=1)


ColumnCheck = Literal["null_check", "distinct_check", "unique_check", "min", "max"]
Comparison = Literal["equal_to", "greater_than", "less_than", "geq_to", "leq_to", "tolerance"]


class QualityChecks(_Strict):
    """Post-load data-quality checks on the run's partition (common-sql's check operators)."""

    # column -> check -> comparison -> value, as SQLColumnCheckOperator takes them.
    column_checks: dict[Identifier, dict[ColumnCheck, dict[Comparison, float]]] = Field(
        default_factory=dict[Identifier, dict[ColumnCheck, dict[Comparison, float]]]
    )
    # check name -> boolean SQL expression that every row of the partition must satisfy.
    table_checks: dict[Identifier, Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=dict[Identifier, Annotated[str, Field(min_length=1, max_length=500)]]
    )


class PipelineConfig(_Strict):
    source: SourceConfig
    target: TargetConfig
    timezone: TimeZoneName
    max_reject_share: float = Field(ge=0.0, le=1.0)
    chunk_rows: int = Field(ge=100, le=5_000_000)
    quality_checks: QualityChecks = Field(default_factory=QualityChecks)
    # A source day with no rows at all: not delivered yet (False: the extract fails as transient and
    # Airflow retries it, the loaded day untouched) or a day that really is empty (True: load it empty).
    allow_empty_partitions: bool = False


class ReferenceFile(_Strict):
    """One CSV file of a reference drop and the dimension it loads."""

    file: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.csv$")]
    target: QualifiedName
    key: Identifier
    # type1: attributes are overwritten; type2: a changed attribute closes the current version
    # (valid_to) and opens a new one from the drop's day (valid_from).
    history: Literal["type1", "type2"] = "type1"
    # Schema drift: a header column the model does not read fails the file unless allowed.
    allow_new_columns: bool = False


class ReferenceConfig(_Strict):
    """The reference_data pipeline: CSV file drops in a landing folder upserted into dimensions."""

    # The landing folder is the filesystem connection conn_id (conn_type fs, extra {"path": ...}); without
    # that connection, FLIGHTDECK_LANDING_DIR or landing_dir (relative to the project root).
    conn_id: ConnId
    landing_dir: Annotated[str, Field(min_length=1)]
    # Local calendar days of the runs (a drop's type-2 versions start on its run's day).
    timezone: TimeZoneName
    max_reject_share: float = Field(ge=0.0, le=1.0)
    files: dict[Identifier, ReferenceFile] = Field(min_length=1)

    def landing_path(self) -> Path:
        """The landing folder when conn_id is not defined: FLIGHTDECK_LANDING_DIR if set, else landing_dir."""
        path = Path(os.environ.get(LANDING_DIR_ENV) or self.landing_dir)
        return path if path.is_absolute() else PROJECT_ROOT / path

    def file(self, name: str) -> ReferenceFile:
        try:
            return self.files[name]
        except KeyError:
            known = ", ".join(sorted(self.files))
            raise ConfigError(f"no reference file {name!r} in the configuration (known: {known})") from None


# The Open-Meteo hourly variables the weather pipeline knows how to load (see flightdeck.sources.weather.schemas).
WeatherVariable = Literal[
    "temperature_2m",
    "dew_point_2m",
    "relative_humidity_2m",
    "precipitation",
    "pressure_msl",
    "wind_speed_10m",
    "wind_direction_10m",
    "wind_gusts_10m",
    "visibility",
]


class WeatherAirport(_Strict):
    """Where the API is asked for an origin airport's weather (WGS84 degrees)."""

    latitude: float = Field(ge=-90.0, le=90.0)
    longitude: float = Field(ge=-180.0, le=180.0)


class WeatherRetryConfig(_Strict):
    """Retries of one API request on transient faults: exponential backoff with jitter, bounded in time."""

    attempts: int = Field(ge=1, le=20)
    initial_wait_s: float = Field(gt=0.0, le=60.0)
    max_wait_s: float = Field(gt=0.0, le=600.0)
    max_total_s: float = Field(gt=0.0, le=3600.0)
    connect_timeout_s: float = Field(gt=0.0, le=120.0)
    read_timeout_s: float = Field(gt=0.0, le=600.0)


class WeatherConfig(_Strict):
    """The weather pipeline: Open-Meteo's /v1/archive over the HTTP connection conn_id."""

    conn_id: ConnId
    endpoint: str = Field(pattern=r"^/[A-Za-z0-9_./-]*$")
    airports: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], WeatherAirport] = Field(min_length=1)
    hourly: tuple[WeatherVariable, ...] = Field(min_length=1)
    timezone: TimeZoneName
    target: TargetConfig
    max_reject_share: float = Field(ge=0.0, le=1.0)
    retry: WeatherRetryConfig

    @field_validator("hourly")
    @classmethod
    def _distinct_variables(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("hourly variables must not repeat")
        return value


class ProjectConfig(_Strict):
    warehouse_conn_id: ConnId
    staging_schema: Identifier
    pipelines: dict[Identifier, PipelineConfig]
    reference: ReferenceConfig
    weather: WeatherConfig | None = None

    def pipeline(self, name: str) -> PipelineConfig:
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
    """Parse YAML text into the configuration model, or raise ConfigError naming the bad key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{origin}: invalid configuration: {problems}") from exc


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
