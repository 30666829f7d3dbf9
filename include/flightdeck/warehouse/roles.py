"""Least-privilege roles: what the loads need and nothing more.

`etl grant --loader ROLE` (run once by the warehouse owner, after the first `etl run` or
`ensure_warehouse` created the schema) lets ROLE run every stage without owning anything but its
staging tables; `--source-reader ROLE` (on the source database) lets ROLE read ops.* and nothing
else. The pipeline never needs DDL rights once the warehouse DDL is applied (see audit.schema_migrations).
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from flightdeck.core.compose import Connection, exists, qualified, schema_exists
from flightdeck.warehouse.schema import WEATHER_EMPTY_HOURS

CORE_FACTS = ("fact_flights",)
DIMENSIONS = ("dim_airport", "dim_carrier", "dim_aircraft")


def grant_loader(conn: Connection, role: str, staging_schema: str, replaced_tables: Sequence[str] = ()) -> None:
    """Warehouse privileges of the loading role (run as the owner of core, audit and staging).

    replaced_tables: audit tables of the sources that their loads replace on every run (schema.table,
    flightdeck.catalog.REPLACED_TABLES): read, insert and delete.
    """
    who = sql.Identifier(role)
    statements = [
        sql.SQL("GRANT USAGE ON SCHEMA core, audit TO {}").format(who),
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(sql.Identifier(staging_schema), who),
        # Facts: partition replace is delete + insert (and key/weather updates); dimensions: upserts.
        sql.SQL("GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA core TO {}").format(who),
        sql.SQL("GRANT UPDATE ON {} TO {}").format(
            sql.SQL(", ").join(sql.Identifier("core", name) for name in (*DIMENSIONS, *CORE_FACTS)), who
        ),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON audit.load_runs, audit.rejected_records TO {}").format(who),
        # Reference drops: the checksum ledger only grows.
        sql.SQL("GRANT SELECT, INSERT ON audit.file_loads TO {}").format(who),
        sql.SQL("GRANT SELECT ON audit.schema_migrations TO {}").format(who),
        *(
            sql.SQL("GRANT SELECT, INSERT, DELETE ON {} TO {}").format(qualified(table), who)
            for table in replaced_tables
        ),
        sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA core, audit TO {}").format(who),
        # Tables a later migration adds get the same rights.
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA core GRANT SELECT, INSERT, DELETE ON TABLES TO {}").format(who),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA core, audit GRANT USAGE ON SEQUENCES TO {}").format(who),
    ]
    if exists(conn, ".".join(WEATHER_EMPTY_HOURS)):
        # The weather extract replaces a day's empty hours: delete and insert.
        statements.append(
            sql.SQL("GRANT SELECT, INSERT, DELETE ON {} TO {}").format(sql.Identifier(*WEATHER_EMPTY_HOURS), who)
        )
    if schema_exists(conn, "marts"):
        # Marts are rebuilt per day: delete and insert.
        statements += [
            sql.SQL("GRANT USAGE ON SCHEMA marts TO {}").format(who),
            sql.SQL("GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA marts TO {}").format(who),
        ]
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
        # Staging tables are dropped and recreated by every rerun: the loader must own them.
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (staging_schema,))
        for (table,) in cur.fetchall():
            cur.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.Identifier(staging_schema, str(table)), who))


def grant_source_reader(conn: Connection, role: str, schema: str = "ops") -> None:
    """Source privileges of the extracting role: read the source schema, nothing else."""
    who = sql.Identifier(role)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), who))
        cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(sql.Identifier(schema), who))
        cur.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                sql.Identifier(schema), who
            )
        )
