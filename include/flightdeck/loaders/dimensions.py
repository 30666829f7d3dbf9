"""Type-1 dimension upserts from validated reference rows, set-based through a staging table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from flightdeck.extractors.postgres import column_list, create_staging_table
from flightdeck.loaders.staging import copy_records

Conn = psycopg.Connection[tuple[object, ...]]


def upsert_dimension(
    conn: Conn,
    target: sql.Identifier,
    staging: sql.Identifier,
    key: str,
    columns: Sequence[tuple[str, LiteralString]],
    rows: Sequence[dict[str, Any]],
) -> int:
    """Insert new members and update changed ones; returns how many rows changed."""
    names = [name for name, _ in columns]
    create_staging_table(conn, staging, columns)
    copy_records(conn, staging, names, rows)
    attributes = [name for name in names if name != key]
    statement = sql.SQL(
        "INSERT INTO {target} AS t ({cols}) SELECT {cols} FROM {staging} ORDER BY {key} "
        "ON CONFLICT ({key}) DO UPDATE SET {updates}, updated_at = now() "
        "WHERE ({current}) IS DISTINCT FROM ({incoming})"
    ).format(
        target=target,
        cols=column_list(names),
        staging=staging,
        key=sql.Identifier(key),
        updates=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name in attributes),
        current=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(n)) for n in attributes),
        incoming=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(n)) for n in attributes),
    )
    with conn.cursor() as cur:
        cur.execute(statement)
        changed = cur.rowcount
        cur.execute(sql.SQL("DROP TABLE {}").format(staging))
    return changed


def lookup(conn: Conn, target: sql.Identifier, key: str, *values: str) -> dict[str, tuple[Any, ...]]:
    """natural key -> (surrogate key column, other requested columns) for every known member."""
    statement = sql.SQL("SELECT {}, {} FROM {} WHERE {} >= 0").format(
        sql.Identifier(key),
        column_list(values),
        target,
        sql.Identifier(values[0]),
    )
    with conn.cursor() as cur:
        cur.execute(statement)
        return {str(row[0]): tuple(row[1:]) for row in cur.fetchall()}
