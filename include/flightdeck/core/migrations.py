"""The one DDL path: apply the warehouse's DDL files once per version, serialised across processes.

audit.schema_migrations records each file's checksum: a file whose recorded checksum equals its
content is not run again, so loads need no DDL privileges once the owner applied it (etl grant).
Files are idempotent (CREATE ... IF NOT EXISTS, guarded ALTERs) and run in the order given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from flightdeck.core.compose import Connection, exists, schema_exists

LEDGER = sql.Identifier("audit", "schema_migrations")


def apply_sql_file(conn: Connection, path: Path) -> None:
    """Run one DDL file, serialised across processes by an advisory lock on its name."""
    _apply(conn, path.name, path.read_text(encoding="utf-8"))


def _apply(conn: Connection, name: str, ddl: str) -> None:
    with conn.cursor() as cur:
        # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalogue; the lock avoids it.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"flightdeck:{name}",))
        cur.execute(ddl.encode("utf-8"))


@dataclass(frozen=True)
class DdlFile:
    """A DDL file as read once: its ledger key, its text and the text's checksum."""

    name: str
    ddl: str
    checksum: str

    @classmethod
    def read(cls, path: Path) -> DdlFile:
        ddl = path.read_text(encoding="utf-8")
        return cls(path.name, ddl, hashlib.sha256(ddl.encode("utf-8")).hexdigest())


def pending(conn: Connection, files: Sequence[Path]) -> list[DdlFile]:
    """The files whose current content the ledger does not record."""
    names = [path.name for path in files]
    if len(set(names)) != len(names):
        raise ValueError(f"DDL file names must be unique (they key the ledger): {names}")
    recorded: dict[str, str] = {}
    if exists(conn, "audit.schema_migrations"):
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT filename, checksum FROM {}").format(LEDGER))
            recorded = {str(name): str(checksum) for name, checksum in cur.fetchall()}
    read = [DdlFile.read(path) for path in files]
    return [file for file in read if recorded.get(file.name) != file.checksum]


def ensure_schema(conn: Connection, files: Sequence[Path], staging_schema: str | None = None) -> list[str]:
    """Apply every file not yet applied at this version (in order) and create the staging schema.

    Returns the names of the files that ran. The first file must create the ledger table.
    """
    applied: list[str] = []
    for file in pending(conn, files):
        _apply(conn, file.name, file.ddl)
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (filename, checksum) VALUES (%s, %s) "
                    "ON CONFLICT (filename) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()"
                ).format(LEDGER),
                (file.name, file.checksum),
            )
        applied.append(file.name)
    if staging_schema is not None and not schema_exists(conn, staging_schema):
        # CREATE SCHEMA IF NOT EXISTS checks privileges even when the schema exists: ask first.
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(staging_schema)))
    return applied
