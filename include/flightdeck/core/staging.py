"""Staging tables: create them, fill them with COPY (from another database or from records), read them in chunks.

Stream a query's result from one PostgreSQL database into a table of another with COPY.

Binary COPY both ways, in blocks of about a megabyte: memory stays at one block whatever the
partition size, and no row passes through Python objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, LiteralString

from psycopg import sql
from psycopg.rows import dict_row

from flightdeck.core.compose import Connection, column_list
from flightdeck.core.errors import PermanentPipelineError

# COPY OUT hands over one row at a time; forwarding rows in blocks of this size instead of one by
# one halves the extract's Python time (profiled at 1M rows), at one block of memory.
_BLOCK_BYTES = 1 << 20


def create_staging_table(conn: Connection, table: sql.Identifier, columns: Sequence[tuple[str, LiteralString]]) -> None:
    """(Re)create an UNLOGGED staging table: rerunning a task starts from an empty one."""
    definitions = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(pg_type)) for name, pg_type in columns
    )
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        cur.execute(sql.SQL("CREATE UNLOGGED TABLE {} ({})").format(table, definitions))


def copy_query(
    source: Connection,
    query: sql.Composable,
    params: Sequence[object],
    target: Connection,
    table: sql.Identifier,
    columns: Sequence[str],
) -> int:
    """Copy the rows of `query` (run on `source`) into `table` (on `target`); returns the row count."""
    copy_out = sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(query)
    copy_in = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(table, column_list(columns))
    with source.cursor() as out_cur, target.cursor() as in_cur:
        with out_cur.copy(copy_out, params) as reader, in_cur.copy(copy_in) as writer:
            block = bytearray()
            for row in reader:
                block += row
                if len(block) >= _BLOCK_BYTES:
                    writer.write(block)
                    block = bytearray()  # a new one: the writer may still hold the last
            if block:
                writer.write(block)
        copied = in_cur.rowcount
    if copied < 0:
        raise PermanentPipelineError(f"COPY into {table.as_string(target)} reported no row count")
    return copied


def copy_records(
    conn: Connection, table: sql.Identifier, columns: Sequence[str], records: Iterable[Mapping[str, Any]]
) -> int:
    """COPY records (dicts) into a table; returns how many were written."""
    written = 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(table, column_list(columns))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for record in records:
            copy.write_row(tuple(record[name] for name in columns))
            written += 1
    return written


def read_chunks(
    conn: Connection, query: sql.Composed, params: Sequence[object], chunk_rows: int
) -> Iterator[list[dict[str, Any]]]:
    """Rows of a query as dicts, chunk by chunk, through a server-side cursor (bounded memory)."""
    with conn.cursor(name="flightdeck_read", row_factory=dict_row) as cur:
        cur.itersize = chunk_rows
        cur.execute(query, params)
        while True:
            chunk = cur.fetchmany(chunk_rows)
            if not chunk:
                return
            yield chunk
