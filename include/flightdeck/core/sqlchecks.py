"""A Pydantic model's checks as SQL: one boolean expression per field constraint and cross-field rule.

The Pydantic models stay the single definition of the rules; this module only mirrors them so that
PostgreSQL can check whole staging tables at once (the transform's fast path). Field constraints are
read from each model's core schema (nullability, bounds, patterns, literals; validators through the
@sql_counterpart registered with them, see core/rules.py). Cross-field rules are the models' rule
tuples (e.g. the flights source's SOURCE_RULES, FACT_RULES), each through the @sql_counterpart
registered next to it. A constraint or rule without an exact SQL counterpart fails at import: the model
and its SQL twin cannot drift apart unnoticed. tests/integration/test_flight_checks_property.py proves with
generated records, against PostgreSQL, that the checks accept exactly the records the models accept.

A record passes when every field check holds and then every rule holds; rules are evaluated only for
records whose fields all passed (as Pydantic runs the model validator only then).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString, cast

from psycopg import sql
from pydantic import BaseModel

from flightdeck.core.rules import SQL_COUNTERPARTS

# Column name -> the SQL that reads it (e.g. r."dep_time").
Columns = Callable[[str], sql.Composable]

_INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
# Core-schema keys that carry no constraint on the value.
_NEUTRAL_KEYS = frozenset({"type", "metadata", "ref", "serialization", "strict", "microseconds_precision"})
# Patterns whose meaning is the same in Pydantic's (Rust) regex engine and PostgreSQL's: anchored
# sequences of ASCII letters, digits and classes of them, with simple quantifiers.
_PORTABLE_PATTERN = re.compile(r"\^(?:(?:[A-Za-z0-9]|\[[A-Za-z0-9-]+\])(?:\{\d+(?:,\d+)?\}|[?*+])?)+\$")
_SINGLE_CLASS = re.compile(r"\^([A-Za-z0-9]|\[[A-Za-z0-9-]+\])\{(\d+)(?:,(\d+))?\}\$")
_PARAM = re.compile(r"%\((\w+)\)s")


class NoSqlCounterpart(TypeError):
    """A model constraint or rule that has no exact SQL counterpart: add one, next to the rule."""


@dataclass(frozen=True)
class Check:
    """One field constraint or cross-field rule as SQL; `kind` says which."""

    name: str
    kind: str  # "field" or "rule"
    render: Callable[[Columns], sql.Composed]
    params: Mapping[str, object]
    sql_types: frozenset[str] = frozenset()  # field checks: the column types the constraint is written for
    constraint: object = None  # field checks: the field's core schema without its documentation

    def same_constraint(self, other: Check) -> bool:
        """Whether two field checks check their values alike (same nullability, bounds and validators)."""
        return self.kind == other.kind == "field" and self.constraint == other.constraint


@dataclass(frozen=True)
class ModelChecks:
    """Every check of one model, in the model's order: fields first, then the cross-field rules."""

    model: type[BaseModel]
    fields: tuple[Check, ...]
    rules: tuple[Check, ...]

    def field(self, name: str) -> Check:
        for check in self.fields:
            if check.name == name:
                return check
        raise KeyError(f"{self.model.__name__} has no field {name}")

    def without_fields(self, names: Iterable[str]) -> ModelChecks:
        """These checks but for some fields' (whose values are known to pass already)."""
        skipped = set(names)
        return ModelChecks(
            model=self.model,
            fields=tuple(check for check in self.fields if check.name not in skipped),
            rules=self.rules,
        )

    @property
    def context_names(self) -> frozenset[str]:
        """Bind parameters the caller supplies from the validation context (e.g. timezone)."""
        return frozenset(
            name
            for check in self.rules
            for name in _PARAM.findall(check.render(_placeholder_columns).as_string(None))
            if name not in check.params
        )

    def params(self, **context: object) -> dict[str, object]:
        """Bind parameters of every check: their constants plus the given validation context."""
        missing = self.context_names - set(context)
        if missing:
            raise ValueError(f"{self.model.__name__} checks need {', '.join(sorted(missing))}")
        merged: dict[str, object] = dict(context)
        for check in (*self.fields, *self.rules):
            for name, value in check.params.items():
                if name in merged and merged[name] != value:
                    raise ValueError(f"bind parameter {name} has two values in the {self.model.__name__} checks")
                merged[name] = value
        return merged

    def require_columns(self, column_types: Mapping[str, str]) -> None:
        """Fail unless every field is a column of a type its constraint was written for."""
        for check in self.fields:
            found = column_types.get(check.name)
            if found is None:
                raise NoSqlCounterpart(f"{self.model.__name__}.{check.name} has no column to check")
            if found not in check.sql_types:
                raise NoSqlCounterpart(
                    f"{self.model.__name__}.{check.name} is checked as {'/'.join(sorted(check.sql_types))}, "
                    f"but its column is {found}"
                )

    def fields_pass(self, columns: Columns) -> sql.Composed:
        return _all(check.render(columns) for check in self.fields)

    def rules_pass(self, columns: Columns) -> sql.Composed:
        return _all(check.render(columns) for check in self.rules)

    def verdict(self, columns: Columns) -> sql.Composed:
        """True exactly where the model accepts the record; never null, never an error."""
        return sql.SQL("(CASE WHEN {} THEN coalesce({}, false) ELSE false END)").format(
            self.fields_pass(columns), self.rules_pass(columns)
        )

    def failed(self, columns: Columns) -> sql.Composed:
        """The names of the checks a record fails, as a text array (rules only where the fields pass)."""
        field_names = [
            sql.SQL("CASE WHEN NOT coalesce({}, false) THEN {} END").format(
                check.render(columns), sql.Literal(check.name)
            )
            for check in self.fields
        ]
        rule_names = [
            sql.SQL("CASE WHEN NOT coalesce({}, false) THEN {} END").format(
                check.render(columns), sql.Literal(check.name)
            )
            for check in self.rules
        ]
        return sql.SQL(
            "array_remove(ARRAY[{}]::text[] || CASE WHEN {} THEN ARRAY[{}]::text[] ELSE ARRAY[]::text[] END, NULL)"
        ).format(sql.SQL(", ").join(field_names), self.fields_pass(columns), sql.SQL(", ").join(rule_names))


def columns_of(alias: str) -> Columns:
    """Columns read as alias.column."""

    def column(name: str) -> sql.Composable:
        return sql.Identifier(alias, name)

    return column


def _all(parts: Iterable[sql.Composable]) -> sql.Composed:
    return sql.SQL("({})").format(sql.SQL(" AND ").join(sql.SQL("({})").format(part) for part in parts))


def _placeholder_columns(name: str) -> sql.Composable:
    return sql.Identifier(name)


# --- field constraints, from the core schema ----------------------------------------------------------


@dataclass(frozen=True)
class _Constraint:
    """A field's constraint as SQL over its column, with its bind parameters and its column types."""

    render: Callable[[sql.Composable], sql.Composed]
    params: dict[str, object]
    sql_types: frozenset[str]


def _field_check(model: type[BaseModel], name: str, schema: Mapping[str, Any]) -> Check:
    nullable = schema.get("type") == "nullable"
    inner = _constraint(model, name, schema["schema"] if nullable else schema)

    def render(columns: Columns) -> sql.Composed:
        column = columns(name)
        if nullable:
            return sql.SQL("({} IS NULL OR {})").format(column, inner.render(column))
        return sql.SQL("({} IS NOT NULL AND {})").format(column, inner.render(column))

    return Check(
        name=name,
        kind="field",
        render=render,
        params=inner.params,
        sql_types=inner.sql_types,
        constraint=_without_documentation(schema),
    )


def _without_documentation(value: object) -> object:
    if isinstance(value, Mapping):
        items = cast("Mapping[str, object]", value).items()
        return {key: _without_documentation(item) for key, item in items if key != "metadata"}
    if isinstance(value, list):
        return [_without_documentation(item) for item in cast("list[object]", value)]
    return value


def _constraint(model: type[BaseModel], name: str, schema: Mapping[str, Any]) -> _Constraint:
    kind = schema.get("type")
    where = f"{model.__name__}.{name}"
    if kind == "function-after":
        inner = _constraint(model, name, schema["schema"])
        function = schema["function"]
        if function.get("type") != "no-info":
            raise NoSqlCounterpart(f"{where}: validators with info have no SQL counterpart")
        counterpart = SQL_COUNTERPARTS.get(function["function"])
        if counterpart is None:
            raise NoSqlCounterpart(f"{where}: validator {function['function'].__name__} has no @sql_counterpart")
        template = sql.SQL(counterpart.template)

        def render_after(column: sql.Composable) -> sql.Composed:
            # Pydantic runs an after-validator only on values that passed the inner constraints.
            return sql.SQL("(CASE WHEN {} THEN coalesce({}, false) ELSE false END)").format(
                inner.render(column), template.format(value=column)
            )

        return _Constraint(render_after, {**inner.params, **counterpart.params}, inner.sql_types)
    unexpected = set(schema) - _NEUTRAL_KEYS - _KNOWN_KEYS.get(str(kind), frozenset())
    if unexpected:
        raise NoSqlCounterpart(f"{where}: no SQL counterpart for {kind} constraint(s) {', '.join(sorted(unexpected))}")
    parts: list[Callable[[sql.Composable], sql.Composed]] = []
    params: dict[str, object] = {}

    def compare(key: str, template: LiteralString, value: object = None) -> None:
        """A constraint `template` over {column} and the constraint's value {value}, when the schema has it."""
        if key in schema:
            param = f"{name}__{key}"
            params[param] = schema[key] if value is None else value
            statement = sql.SQL(template)
            placeholder = sql.Placeholder(param)
            parts.append(lambda column: statement.format(column=column, value=placeholder))

    if kind == "int":
        sql_types = _INTEGER_TYPES
        compare("ge", "{column} >= {value}")
        compare("gt", "{column} > {value}")
        compare("le", "{column} <= {value}")
        compare("lt", "{column} < {value}")
    elif kind == "str":
        sql_types = frozenset({"text"})
        pattern = schema.get("pattern")
        if pattern is not None and not _PORTABLE_PATTERN.fullmatch(pattern):
            raise NoSqlCounterpart(f"{where}: pattern {pattern!r} may not mean the same in PostgreSQL")
        single = _SINGLE_CLASS.fullmatch(pattern or "")
        if single is not None:
            # ^[...]{m,n}$ as a length and ^[...]*$: the same strings, and cheaper for PostgreSQL to match.
            low, high = int(single.group(2)), int(single.group(3) or single.group(2))
            params.update(
                {f"{name}__pattern": f"^{single.group(1)}*$", f"{name}__min_chars": low, f"{name}__max_chars": high}
            )
            shortest, longest = sql.Placeholder(f"{name}__min_chars"), sql.Placeholder(f"{name}__max_chars")
            every = sql.Placeholder(f"{name}__pattern")
            parts.append(
                lambda column: sql.SQL("(char_length({0}) BETWEEN {1} AND {2} AND {0} ~ {3})").format(
                    column, shortest, longest, every
                )
            )
        else:
            compare("pattern", "{column} ~ {value}", pattern and _unrolled(pattern))
        # Python's len() and char_length() both count code points.
        compare("min_length", "char_length({column}) >= {value}")
        compare("max_length", "char_length({column}) <= {value}")
    elif kind == "datetime":
        zone = schema.get("tz_constraint")
        if zone == "aware":
            sql_types = frozenset({"timestamptz"})
        elif zone == "naive":
            sql_types = frozenset({"timestamp"})
        elif zone is None:
            sql_types = frozenset({"timestamp", "timestamptz"})
        else:
            raise NoSqlCounterpart(f"{where}: no SQL counterpart for tz_constraint {zone!r}")
    elif kind == "date":
        sql_types = frozenset({"date"})
    elif kind == "bool":
        sql_types = frozenset({"boolean"})
    elif kind == "literal":
        expected: list[object] = list(schema["expected"])
        if not expected or not all(isinstance(value, str) for value in expected):
            raise NoSqlCounterpart(f"{where}: only literals of strings have a SQL counterpart")
        sql_types = frozenset({"text"})
        compare("expected", "{column} = ANY({value}::text[])")
    else:
        raise NoSqlCounterpart(f"{where}: no SQL counterpart for a {kind} field")

    def render(column: sql.Composable) -> sql.Composed:
        if not parts:
            return sql.SQL("true").format()
        return sql.SQL("({})").format(sql.SQL(" AND ").join(part(column) for part in parts))

    return _Constraint(render, params, sql_types)


_KNOWN_KEYS: dict[str, frozenset[str]] = {
    "int": frozenset({"ge", "gt", "le", "lt"}),
    "str": frozenset({"pattern", "min_length", "max_length"}),
    "datetime": frozenset({"tz_constraint"}),
    "date": frozenset(),
    "bool": frozenset(),
    "literal": frozenset({"expected"}),
}


def _unrolled(pattern: str) -> str:
    """A portable pattern with its {m} and {m,n} repetitions written out: the same language, and
    PostgreSQL's regex engine matches it faster (x{2,4} becomes xxx?x?)."""

    def unroll(match: re.Match[str]) -> str:
        atom, low, high = match.group(1), int(match.group(2)), match.group(3)
        optional = (int(high) - low) if high is not None else 0
        return atom * low + f"{atom}?" * optional

    return re.sub(r"([A-Za-z0-9]|\[[A-Za-z0-9-]+\])\{(\d+)(?:,(\d+))?\}", unroll, pattern)


def _model_fields_schema(model: type[BaseModel]) -> Mapping[str, Any]:
    # Read as plain data: the core schema's TypedDicts are a union too wide to narrow usefully.
    schema = cast("Mapping[str, Any]", model.__pydantic_core_schema__)
    while schema.get("type") in {"function-after", "function-before", "function-wrap", "definitions"}:
        schema = schema["schema"]
    if schema.get("type") != "model" or schema["schema"].get("type") != "model-fields":
        raise NoSqlCounterpart(f"{model.__name__}: not a plain model of fields")
    return schema["schema"]["fields"]


# --- cross-field rules, through their registered counterparts -------------------------------------------


def _rule_check(rule: Callable[..., None], field_names: Sequence[str]) -> Check:
    counterpart = SQL_COUNTERPARTS.get(rule)
    if counterpart is None:
        raise NoSqlCounterpart(f"rule {rule.__name__} has no @sql_counterpart")
    template = sql.SQL(counterpart.template)

    def render(columns: Columns) -> sql.Composed:
        return template.format(**{name: columns(name) for name in field_names})

    check = Check(name=rule.__name__.lstrip("_"), kind="rule", render=render, params=dict(counterpart.params))
    try:
        check.render(_placeholder_columns)
    except (KeyError, IndexError, ValueError) as exc:
        raise NoSqlCounterpart(f"rule {rule.__name__}: its SQL names something that is not a field ({exc})") from exc
    return check


def model_checks(model: type[BaseModel], rules: Sequence[Callable[..., None]]) -> ModelChecks:
    """A model's field constraints and cross-field rules as SQL checks; NoSqlCounterpart if one has none."""
    fields = _model_fields_schema(model)
    checks = tuple(_field_check(model, name, field["schema"]) for name, field in fields.items())
    return ModelChecks(model=model, fields=checks, rules=tuple(_rule_check(rule, list(fields)) for rule in rules))
