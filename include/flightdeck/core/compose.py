"""SQL composition: identifiers quoted by psycopg's sql module, and the one way to read one value.

Every statement of the project is a psycopg `sql.SQL` template with identifiers from here and
values as bind parameters; nothing is formatted into SQL text by Python string formatting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

import psycopg
from psycopg import sql

Connection = psycopg.Connection[tuple[object, ...]]
Query = LiteralString | sql.SQL | sql.Composed
Params = Sequence[object] | Mapping[str, object] | None


def qualified(name: str) -> sql.Identifier:
    """schema.table from configuration (already validated) as a driver-quoted identifier."""
    schema, table = name.split(".", 1)
    return sql.Identifier(schema, table)


def column_list(columns: Sequence[str]) -> sql.Composed:
    """a, b, c as quoted identifiers."""
    return sql.SQL(", ").join(sql.Identifier(name) for name in columns)


def scalar(conn: Connection, query: Query, params: Params = None) -> Any:
    """The first column of the first row (None without a row)."""
    with conn.cursor() as cur:
        cur.execute(query, params)
        row = cur.fetchone()
    return row[0] if row else None


def count(conn: Connection, query: Query, params: Params = None) -> int:
    """An integer the query returns (a count); 0 without a row or for NULL."""
    value = scalar(conn, query, params)
    return int(str(value)) if value is not None else 0


def count_rows(conn: Connection, query: sql.SQL | sql.Composed, params: Params = None) -> int:
    """How many rows a query returns."""
    return count(conn, sql.SQL("SELECT count(*) FROM ({}) AS q").format(query), params)


def exists(conn: Connection, relation: str) -> bool:
    """Whether a table (or view) exists, by its possibly qualified name."""
    return bool(scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (relation,)))


def schema_exists(conn: Connection, name: str) -> bool:
    return bool(scalar(conn, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (name,)))
