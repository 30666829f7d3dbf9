"""Configuration building blocks: strict Pydantic models, validated names, and YAML parsing.

Every pipeline's settings derive from PipelineSettings (one shape: a time zone for its local days and
a max_reject_share), declared by its source package; flightdeck.catalog composes them into the
project's configuration. Unknown keys and bad values fail with a message naming the key path.
Identifiers are validated here so that nothing unexpected ever reaches SQL composition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

Identifier = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
QualifiedName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$")]
ConnId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]

M = TypeVar("M", bound=BaseModel)


def _known_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_known_timezone)]


class ConfigError(ValueError):
    """The configuration file is missing or invalid; the message says where."""


class StrictModel(BaseModel):
    """Configuration sections: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WaitConfig(StrictModel):
    """How long a run waits for its partition's source data before it fails, and how often it looks.

    The wait frees the worker between looks (a sensor in reschedule mode).
    """

    timeout_s: float = Field(default=6 * 3600.0, gt=0.0, le=7 * 24 * 3600.0)
    poke_interval_s: float = Field(default=600.0, ge=1.0, le=24 * 3600.0)


class PipelineSettings(StrictModel):
    """What every pipeline's settings have: the zone of its local days and how many rejects it tolerates."""

    timezone: TimeZoneName
    # A partition (or file) whose rejected share is above this fails instead of loading mostly garbage.
    max_reject_share: float = Field(ge=0.0, le=1.0)
    # Pipelines whose source delivers days late wait for them (see the pipeline's `ready` check).
    wait: WaitConfig = Field(default_factory=WaitConfig)


class TargetConfig(StrictModel):
    """A partitioned warehouse table: its name, the column of its local day and its natural key."""

    table: QualifiedName
    partition_column: Identifier
    key: tuple[Identifier, ...] = Field(min_length=1)


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


class PartitionedSettings(PipelineSettings):
    """Settings of a pipeline that loads a partitioned target and may check it after the load."""

    target: TargetConfig
    quality_checks: QualityChecks = Field(default_factory=QualityChecks)


class RetryConfig(StrictModel):
    """Retries of one call on transient faults: exponential backoff with jitter, bounded in time."""

    attempts: int = Field(ge=1, le=20)
    initial_wait_s: float = Field(gt=0.0, le=60.0)
    max_wait_s: float = Field(gt=0.0, le=600.0)
    max_total_s: float = Field(gt=0.0, le=3600.0)


def _node_at(root: yaml.Node | None, path: Sequence[str | int]) -> yaml.Node | None:
    """The YAML node a validation error's key path names (or the deepest that exists: the mapping a
    missing key belongs in)."""
    node = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next(
                (value for key, value in node.value if isinstance(key, yaml.ScalarNode) and key.value == str(part)),
                None,
            )
            if found is None:
                return node
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def _where(origin: str, node: yaml.Node | None) -> str:
    """origin:line:column (1-based), as editors and compilers print it."""
    if node is None:
        return origin
    mark = node.start_mark
    return f"{origin}:{mark.line + 1}:{mark.column + 1}"


def validated(model: type[M], data: Any, origin: str, root: yaml.Node | None = None) -> M:
    """`data` as `model`, or ConfigError naming every bad key path (and where the first one is)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or '(top level)'}: {err['msg']}" for err in errors
        )
        where = _where(origin, _node_at(root, errors[0]["loc"]) if errors else None)
        raise ConfigError(f"{where}: invalid configuration: {problems}") from exc


def parse_yaml(text: str, model: type[M], origin: str = "<string>") -> M:
    """Parse YAML text into `model`, or raise ConfigError: one line with file:line:column and the problem."""
    try:
        root = cast("yaml.Node | None", yaml.compose(text, Loader=yaml.SafeLoader))  # pyright: ignore[reportUnknownMemberType]
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        # Where the construct that went wrong starts (an unclosed bracket, say) is what to look at;
        # where the parser noticed (often the end of the file) follows.
        first = exc.context_mark or exc.problem_mark
        where = f"{origin}:{first.line + 1}:{first.column + 1}" if first else origin
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        if exc.context_mark and exc.problem_mark:
            detail += f" (at line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})"
        raise ConfigError(f"{where}: not valid YAML: {detail}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {' '.join(str(exc).split())}") from exc
    return validated(model, data, origin, root)
