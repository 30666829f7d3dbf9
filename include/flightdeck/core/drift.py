"""Schema drift: compare a source table's live columns with the columns the pipeline reads.

A missing column or a changed type is a permanent error naming the column; a new column is one
too unless the configuration allows it (then it is reported and ignored). Never silently wrong data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flightdeck.core.compose import Connection
from flightdeck.core.errors import PermanentPipelineError

# The source types each expected type may be read from without loss.
COMPATIBLE: Mapping[str, frozenset[str]] = {
    "integer": frozenset({"integer", "smallint"}),
    "bigint": frozenset({"bigint", "integer", "smallint"}),
    "text": frozenset({"text", "character varying", "character"}),
    "timestamptz": frozenset({"timestamp with time zone"}),
    "double precision": frozenset({"double precision", "real", "integer", "smallint"}),
}


@dataclass(frozen=True)
class Drift:
    missing: tuple[str, ...]
    changed: tuple[tuple[str, str, str], ...]  # column, live type, expected type
    added: tuple[str, ...]

    def problems(self, allow_new_columns: bool) -> list[str]:
        found = [f"column {name} is missing" for name in self.missing]
        found += [f"column {name} is {live}, expected {expected}" for name, live, expected in self.changed]
        if not allow_new_columns:
            found += [f"column {name} is new (set allow_new_columns to accept it)" for name in self.added]
        return found


def compare(live: Mapping[str, str], expected: Sequence[tuple[str, str]], ignore: Sequence[str] = ()) -> Drift:
    """Pure comparison of live column types (information_schema names) with the expected ones."""
    wanted = dict(expected)
    missing = tuple(name for name in wanted if name not in live)
    changed = tuple(
        (name, live[name], pg_type)
        for name, pg_type in expected
        if name in live and live[name] not in COMPATIBLE.get(pg_type, frozenset({pg_type}))
    )
    added = tuple(name for name in live if name not in wanted and name not in ignore)
    return Drift(missing, changed, added)


def live_columns(conn: Connection, table: str) -> dict[str, str]:
    schema, name = table.split(".", 1)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, name),
        )
        return {str(column): str(data_type) for column, data_type in cur.fetchall()}


def check_source_schema(
    conn: Connection,
    table: str,
    expected: Sequence[tuple[str, str]],
    allow_new_columns: bool,
    ignore: Sequence[str] = (),
) -> Drift:
    """Raise a permanent error naming every drifted column; return the drift (new columns) otherwise."""
    live = live_columns(conn, table)
    if not live:
        raise PermanentPipelineError(f"source table {table} does not exist (run `etl seed` or check the connection)")
    drift = compare(live, expected, ignore)
    problems = drift.problems(allow_new_columns)
    if problems:
        raise PermanentPipelineError(f"schema drift in {table}: " + "; ".join(problems))
    return drift
