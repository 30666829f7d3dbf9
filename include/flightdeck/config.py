"""Pipeline configuration: YAML in config/, parsed into strict Pydantic models at start-up.

Unknown keys and bad values fail with Pydantic's message, which names the offending key path.
Identifiers are validated here so that nothing unexpected ever reaches SQL composition.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from flightdeck.paths import config_path

Identifier = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
QualifiedName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$")]
ConnId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]


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


class PipelineConfig(_Strict):
    source: SourceConfig
    target: TargetConfig
    timezone: str
    max_reject_share: float = Field(ge=0.0, le=1.0)
    chunk_rows: int = Field(ge=100, le=5_000_000)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class ReferenceTable(_Strict):
    source: QualifiedName
    target: QualifiedName
    key: Identifier


class ReferenceConfig(_Strict):
    conn_id: ConnId
    tables: dict[Identifier, ReferenceTable]


class ProjectConfig(_Strict):
    warehouse_conn_id: ConnId
    staging_schema: Identifier
    pipelines: dict[Identifier, PipelineConfig]
    reference: ReferenceConfig

    def pipeline(self, name: str) -> PipelineConfig:
        try:
            return self.pipelines[name]
        except KeyError:
            known = ", ".join(sorted(self.pipelines))
            raise ConfigError(f"no pipeline {name!r} in the configuration (known: {known})") from None


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
