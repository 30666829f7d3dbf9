"""Validate records against a Pydantic model; failures become readable rejections, never exceptions."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from flightdeck.core.rules import RuleViolation

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Rejection:
    """One record that failed a stage: where, why, and the record exactly as it came in."""

    stage: str
    field: str | None
    reason: str
    raw: Mapping[str, Any]

    def raw_json(self) -> str:
        """The record as strict JSON (jsonb refuses NaN and Infinity: those become strings)."""
        return json.dumps(_finite(dict(self.raw)), default=str, sort_keys=True, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]  # pyright: ignore[reportUnknownVariableType]
    return value


def explain(error: ValidationError) -> tuple[str | None, str]:
    """The failing field(s) and one readable sentence from a Pydantic error."""
    fields: list[str] = []
    reasons: list[str] = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(part) for part in item["loc"])
        cause = item.get("ctx", {}).get("error")
        if not loc and isinstance(cause, RuleViolation):
            # Cross-field rules run on the whole record; they name the column themselves.
            loc = cause.field
        if loc and loc not in fields:
            fields.append(loc)
        message = item["msg"].removeprefix("Value error, ")
        reasons.append(f"{loc}: {message}" if loc else message)
    return (",".join(fields) or None), "; ".join(reasons)


def validate_records(
    rows: Iterable[Mapping[str, Any]],
    model: type[M],
    stage: str,
    context: Mapping[str, Any] | None = None,
) -> tuple[list[M], list[Rejection]]:
    """Split rows into validated models and rejections (one per failing record)."""
    valid: list[M] = []
    rejected: list[Rejection] = []
    ctx = dict(context or {})
    for row in rows:
        try:
            valid.append(model.model_validate(row, context=ctx))
        except ValidationError as exc:
            field, reason = explain(exc)
            rejected.append(Rejection(stage=stage, field=field, reason=reason, raw=row))
    return valid, rejected
