"""Rules of the Pydantic models that also exist as SQL: the registry that pairs them, and rule errors.

A validator or cross-field rule registered with @sql_counterpart carries the SQL boolean expression
that holds exactly where it passes; flightdeck.core.sqlchecks assembles them into set-based checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import LiteralString, TypeVar

_Checked = TypeVar("_Checked", bound=Callable[..., object])


@dataclass(frozen=True)
class SqlCounterpart:
    """The SQL boolean expression that holds exactly where a validator or cross-field rule passes.

    `{name}` placeholders stand for the record's columns (`{value}`: a field validator's own column),
    `%(name)s` placeholders for bind parameters: the constants given here and the validation context
    (e.g. timezone). flightdeck.core.sqlchecks assembles them into whole-column checks.
    """

    template: LiteralString
    params: Mapping[str, object] = field(default_factory=dict[str, object])


# Validator or rule -> its SQL counterpart. Registering returns the function unchanged.
SQL_COUNTERPARTS: dict[Callable[..., object], SqlCounterpart] = {}


def sql_counterpart(template: LiteralString, **params: object) -> Callable[[_Checked], _Checked]:
    """Register the SQL expression that mirrors the decorated validator or rule (see SqlCounterpart)."""

    def register(function: _Checked) -> _Checked:
        SQL_COUNTERPARTS[function] = SqlCounterpart(template, params)
        return function

    return register


class RuleViolation(ValueError):
    """A cross-field rule broken by a record; `field` names the column to look at."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
