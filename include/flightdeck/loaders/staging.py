"""Write Python records into staging and read them back, in bounded chunks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from flightdeck.extractors.postgres import column_list

Conn = psycopg.Connection[tuple[object, ...]]


def copy_records(
    conn: Conn, table: sql.Identifier, columns: Sequence[str], records: Iterable[Mapping[str, Any]]
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
    conn: Conn, query: sql.Composed, params: Sequence[object], chunk_rows: int
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
