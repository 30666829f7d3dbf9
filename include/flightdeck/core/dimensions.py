"""Dimension merges from validated reference rows, set-based through a staging table.

Type 1 overwrites a member's attributes. Type 2 keeps history: a changed member's current version
is closed on the drop's day (valid_to, exclusive) and a new version starts that day. A member seen
for the first time gets one version valid from FIRST_VALID_FROM, because its history before the
first drop is unknown and flights of earlier days should still find it. Neither kind deletes a
member that a later file leaves out: facts keep pointing at it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

from psycopg import sql

from flightdeck.core.compose import Connection
from flightdeck.core.errors import PermanentPipelineError
from flightdeck.core.staging import column_list, copy_records, create_staging_table

FIRST_VALID_FROM = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class MergeResult:
    inserted: int  # new members (type 2: and new versions of changed members)
    updated: int  # members whose attributes changed (type 1 in place; type 2 same-day corrections)
    versions_closed: int  # type 2: current versions closed because an attribute changed


def lock_dimension(conn: Connection, table: str) -> None:
    """Hold the dimension's advisory lock until the transaction ends: every load that writes it takes it.

    A dimension fed by more than one source (core.dim_airport) is merged by one of them at a time.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"flightdeck:{table}",))


def _stage(
    conn: Connection,
    staging: sql.Identifier,
    columns: Sequence[tuple[str, LiteralString]],
    rows: Sequence[dict[str, Any]],
) -> list[str]:
    names = [name for name, _ in columns]
    create_staging_table(conn, staging, columns)
    copy_records(conn, staging, names, rows)
    return names


def _differs(attributes: Sequence[str], left: str, right: str) -> sql.Composed:
    return sql.SQL("({}) IS DISTINCT FROM ({})").format(
        sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(left), sql.Identifier(n)) for n in attributes),
        sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(right), sql.Identifier(n)) for n in attributes),
    )


def upsert_type1(
    conn: Connection,
    target: sql.Identifier,
    staging: sql.Identifier,
    key: str,
    columns: Sequence[tuple[str, LiteralString]],
    rows: Sequence[dict[str, Any]],
) -> MergeResult:
    """Insert new members and overwrite changed ones; unchanged members are not touched."""
    names = _stage(conn, staging, columns, rows)
    attributes = [name for name in names if name != key]
    statement = sql.SQL(
        "INSERT INTO {target} AS t ({cols}) SELECT {cols} FROM {staging} ORDER BY {key} "
        "ON CONFLICT ({key}) DO UPDATE SET {updates}, updated_at = now() WHERE {differs} "
        "RETURNING (xmax = 0) AS inserted"
    ).format(
        target=target,
        cols=column_list(names),
        staging=staging,
        key=sql.Identifier(key),
        updates=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name in attributes),
        differs=_differs(attributes, "t", "excluded"),
    )
    with conn.cursor() as cur:
        cur.execute(statement)
        flags = [bool(row[0]) for row in cur.fetchall()]
        cur.execute(sql.SQL("DROP TABLE {}").format(staging))
    inserted = sum(flags)
    return MergeResult(inserted=inserted, updated=len(flags) - inserted, versions_closed=0)


def merge_type2(
    conn: Connection,
    target: sql.Identifier,
    staging: sql.Identifier,
    key: str,
    columns: Sequence[tuple[str, LiteralString]],
    rows: Sequence[dict[str, Any]],
    effective: dt.date,
) -> MergeResult:
    """Keep attribute history: versions valid over [valid_from, valid_to), one current per member.

    Run inside one transaction with the rest of the drop's load: readers see the old versions or
    the new ones. A second drop on the same day corrects that day's version in place.
    """
    names = _stage(conn, staging, columns, rows)
    attributes = [name for name in names if name != key]
    params = {"effective": effective, "first": FIRST_VALID_FROM}
    fmt: dict[str, sql.Composable] = {
        "target": target,
        "staging": staging,
        "key": sql.Identifier(key),
        "cols": column_list(names),
        "differs": _differs(attributes, "t", "s"),
        "sets": sql.SQL(", ").join(sql.SQL("{0} = s.{0}").format(sql.Identifier(name)) for name in attributes),
    }
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT t.{key}, t.valid_from FROM {target} t JOIN {staging} s USING ({key}) "
                "WHERE t.is_current AND t.valid_from > %(effective)s AND {differs} ORDER BY t.{key} LIMIT 1"
            ).format(**fmt),
            params,
        )
        later = cur.fetchone()
        if later is not None:
            raise PermanentPipelineError(
                f"{target.as_string(conn)}: the drop of {effective} changes {key} {later[0]}, whose current version "
                f"is valid from {later[1]}: history only moves forward - load this file under a run on or after "
                f"{later[1]}"
            )
        cur.execute(
            sql.SQL(
                "UPDATE {target} t SET {sets}, updated_at = now() FROM {staging} s "
                "WHERE t.{key} = s.{key} AND t.is_current AND t.valid_from = %(effective)s AND {differs}"
            ).format(**fmt),
            params,
        )
        corrected = cur.rowcount
        cur.execute(
            sql.SQL(
                "UPDATE {target} t SET valid_to = %(effective)s, is_current = false, updated_at = now() "
                "FROM {staging} s WHERE t.{key} = s.{key} AND t.is_current AND t.valid_from < %(effective)s "
                "AND {differs}"
            ).format(**fmt),
            params,
        )
        closed = cur.rowcount
        # Members without a current version: never seen (valid from the beginning) or just closed.
        cur.execute(
            sql.SQL(
                "INSERT INTO {target} ({cols}, valid_from, valid_to, is_current) "
                "SELECT {cols}, CASE WHEN EXISTS (SELECT 1 FROM {target} o WHERE o.{key} = s.{key}) "
                "THEN %(effective)s::date ELSE %(first)s::date END, '9999-12-31', true "
                "FROM {staging} s WHERE NOT EXISTS "
                "(SELECT 1 FROM {target} t WHERE t.{key} = s.{key} AND t.is_current) ORDER BY s.{key}"
            ).format(**fmt),
            params,
        )
        inserted = cur.rowcount
        cur.execute(sql.SQL("DROP TABLE {}").format(staging))
    return MergeResult(inserted=inserted, updated=corrected, versions_closed=closed)


def lookup(conn: Connection, target: sql.Identifier, key: str, *values: str) -> dict[str, tuple[Any, ...]]:
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


def versions_on(
    conn: Connection, target: sql.Identifier, key: str, surrogate: str, day: dt.date | None
) -> dict[str, int]:
    """natural key -> surrogate key of the type-2 version valid on a day (None: the current one)."""
    valid = sql.SQL("valid_from <= %(day)s AND valid_to > %(day)s") if day else sql.SQL("is_current")
    statement = sql.SQL("SELECT {key}, {surrogate} FROM {target} WHERE {surrogate} >= 0 AND {valid}").format(
        key=sql.Identifier(key), surrogate=sql.Identifier(surrogate), target=target, valid=valid
    )
    with conn.cursor() as cur:
        cur.execute(statement, {"day": day})
        return {str(row[0]): int(str(row[1])) for row in cur.fetchall()}
