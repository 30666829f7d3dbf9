"""The reference_data pipeline: CSV file drops in a landing folder merged into the dimensions.

One stage per file (airlines, airports, planes): checksum -> skip if unchanged -> parse (line
rejections) -> validate (Pydantic, record rejections) -> merge (type 1 or type 2) in one
transaction with its audit rows. Then resolve_fact_keys points facts loaded before a member arrived
(or before a type-2 change) at the right dimension rows, and reports the days it changed.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, LiteralString

from psycopg import sql
from pydantic import BaseModel
from sqlalchemy.engine import URL

from flightdeck.core import audit
from flightdeck.core.config import ReferenceConfig
from flightdeck.core.connections import folder_path
from flightdeck.core.db import connect, ensure_sql_file, qualified, schema_exists
from flightdeck.core.dimensions import MergeResult, merge_type2, upsert_type1
from flightdeck.core.errors import ReconciliationError
from flightdeck.core.files import CsvDrop, MalformedFileError, file_checksum, parse_csv, read_file
from flightdeck.core.logs import stage_log
from flightdeck.core.partition import Partition
from flightdeck.core.validation import Rejection, validate_records
from flightdeck.sources.flights.transform_sql import localized
from flightdeck.sources.reference.schemas import AircraftRef, AirportRef, CarrierRef

REFERENCE_MODELS: dict[str, type[BaseModel]] = {"airports": AirportRef, "airlines": CarrierRef, "planes": AircraftRef}
# Dimension columns per file (the models' field names), with their warehouse types.
REFERENCE_COLUMNS: dict[str, tuple[tuple[str, LiteralString], ...]] = {
    "airports": (
        ("faa", "text"),
        ("name", "text"),
        ("lat", "double precision"),
        ("lon", "double precision"),
        ("alt_ft", "integer"),
        ("utc_offset_h", "integer"),
        ("dst", "text"),
        ("tzone", "text"),
    ),
    "airlines": (("carrier", "text"), ("name", "text")),
    "planes": (
        ("tailnum", "text"),
        ("year_built", "integer"),
        ("type", "text"),
        ("manufacturer", "text"),
        ("model", "text"),
        ("engines", "integer"),
        ("seats", "integer"),
        ("speed", "integer"),
        ("engine", "text"),
    ),
}
REJECT_STAGES = ("parse", "post_extract", "pre_load")
# Audit pipelines of this DAG: reference.airlines, reference.airports, reference.planes, reference.fact_keys.
PIPELINE_PREFIX = "reference."
# Helper keys of a rejected record's raw payload (CSV columns never start with an underscore here).
FILE_KEY = "_file"
LINE_KEY = "_line"
TEXT_KEY = "_text"


def csv_columns(model: type[BaseModel]) -> list[str]:
    """The CSV header columns a model reads: each field's source name (its alias) or its own name."""
    columns: list[str] = []
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        columns.append(alias if isinstance(alias, str) else name)
    return columns


@dataclass(frozen=True)
class FileLoadResult:
    name: str
    file: str
    status: Literal["loaded", "skipped"]
    sha256: str
    records: int = 0  # data records in the file (lines that are not blank, after the header)
    rejected: int = 0
    inserted: int = 0
    updated: int = 0
    versions_closed: int = 0

    @property
    def loaded(self) -> int:
        return self.records - self.rejected


def landing_folder(reference: ReferenceConfig) -> Path:
    """Where the drop lands: the reference connection's folder, else the configured local folder."""
    return folder_path(reference.conn_id, reference.landing_path())


def reference_partition(name: str, partition: Partition) -> Partition:
    """The partition as audited for one file (or step) of the reference pipeline."""
    pipeline = f"{PIPELINE_PREFIX}{name}"
    if partition.pipeline == pipeline:
        return partition
    return Partition(pipeline, partition.start, partition.end, partition.dag_id, partition.run_id)


def ensure_reference_tables(warehouse: URL, staging_schema: str) -> None:
    with connect(warehouse) as conn:
        ensure_sql_file(conn, "warehouse.sql", ledger="audit.schema_migrations")
        if not schema_exists(conn, staging_schema):
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(staging_schema)))


def last_loaded_checksum(conn: Any, file_name: str) -> str | None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT sha256 FROM audit.file_loads WHERE file_name = %s AND status = 'loaded' "
            "ORDER BY file_load_id DESC LIMIT 1",
            (file_name,),
        )
        row = cur.fetchone()
    return str(row[0]) if row else None


def drop_rejections(drop: CsvDrop, model: type[BaseModel], key: str) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Valid dimension rows of a parsed drop, and every record refused with its file and line.

    A key that repeats within the file is ambiguous (which row wins?): every later occurrence is
    rejected naming the line it repeats.
    """
    rejections = [
        Rejection("parse", None, line.reason, {FILE_KEY: drop.name, LINE_KEY: line.line, TEXT_KEY: line.text})
        for line in drop.rejections
    ]
    rows = [{FILE_KEY: drop.name, LINE_KEY: record.line, **record.values} for record in drop.records]
    valid, invalid = validate_records(rows, model, "post_extract")
    rejections.extend(invalid)
    refused = {id(rejection.raw) for rejection in invalid}
    kept: list[dict[str, Any]] = []
    first_line: dict[Any, int] = {}
    for model_row, raw in zip(valid, (row for row in rows if id(row) not in refused), strict=True):
        values = model_row.model_dump()
        line = int(str(raw[LINE_KEY]))
        seen = first_line.get(values[key])
        if seen is not None:
            rejections.append(Rejection("pre_load", key, f"{key} {values[key]!r} repeats line {seen}", raw))
            continue
        first_line[values[key]] = line
        kept.append(values)
    rejections.sort(key=lambda rejection: int(str(rejection.raw[LINE_KEY])))
    return kept, rejections


def load_reference_file(
    warehouse: URL, reference: ReferenceConfig, staging_schema: str, name: str, partition: Partition
) -> FileLoadResult:
    """Load one file of the drop into its dimension, or skip it when its content was loaded before."""
    spec = reference.file(name)
    model = REFERENCE_MODELS[name]
    ref_partition = reference_partition(name, partition)
    path: Path = landing_folder(reference) / spec.file
    context = {**ref_partition.log_context(), "file": spec.file}
    started = time.perf_counter()
    with stage_log("reference_file", context) as counts:
        ensure_reference_tables(warehouse, staging_schema)
        data = read_file(path)
        checksum = file_checksum(data)
        with connect(warehouse) as wh:
            if last_loaded_checksum(wh, spec.file) == checksum:
                _record_file(wh, ref_partition, spec.file, checksum, len(data), "skipped")
                audit.record_run(
                    wh,
                    ref_partition,
                    status="skipped",
                    error=None,
                    extracted=0,
                    valid=0,
                    loaded=0,
                    rejected=0,
                    load_s=None,
                )
                counts.extra.update({"status": "skipped", "sha256": checksum})
                return FileLoadResult(name, spec.file, "skipped", checksum)
        drop = parse_csv(spec.file, data, csv_columns(model))
        unknown = [column for column in drop.header if column not in csv_columns(model)]
        if unknown:
            if not spec.allow_new_columns:
                raise MalformedFileError(
                    f"{spec.file} has column(s) the pipeline does not read: {', '.join(unknown)}; nothing was "
                    f"loaded - fix the file, or set reference.files.{name}.allow_new_columns: true to ignore them"
                )
            counts.extra["ignored_new_columns"] = unknown
        rows, rejections = drop_rejections(drop, model, spec.key)
        records = len(drop.records) + len(drop.rejections)
        counts.records_in = records
        counts.rejected = len(rejections)
        counts.extra.update({"sha256": checksum, "blank_lines": drop.blank_lines})
        with connect(warehouse) as wh:
            audit.replace_rejections(wh, ref_partition, REJECT_STAGES, rejections)
            audit.record_run(wh, ref_partition, status="running", error=None, extracted=records)
        if records and len(rejections) / records > reference.max_reject_share:
            raise ReconciliationError(
                f"{spec.file}: {len(rejections)} of {records} records rejected ({len(rejections) / records:.1%}), "
                f"above the configured max_reject_share {reference.max_reject_share:.1%}: the file was not "
                "loaded; see audit.rejected_records for the lines and reasons"
            )
        staging = sql.Identifier(staging_schema, f"reference_{name}_{partition.label}")
        columns = REFERENCE_COLUMNS[name]
        with connect(warehouse) as wh:
            # One transaction: the dimension, the file's checksum and the run's counts change together.
            wh.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"flightdeck:{spec.target}",))
            if spec.history == "type2":
                merged = merge_type2(wh, qualified(spec.target), staging, spec.key, columns, rows, partition.start)
            else:
                merged = upsert_type1(wh, qualified(spec.target), staging, spec.key, columns, rows)
            _record_file(wh, ref_partition, spec.file, checksum, len(data), "loaded", records, len(rejections), merged)
            audit.record_run(
                wh,
                ref_partition,
                status="success",
                error=None,
                extracted=records,
                valid=len(rows),
                rejected=len(rejections),
                loaded=len(rows),
                load_s=round(time.perf_counter() - started, 3),
            )
        counts.records_out = len(rows)
        counts.extra.update(
            {
                "status": "loaded",
                "inserted": merged.inserted,
                "updated": merged.updated,
                "closed": merged.versions_closed,
            }
        )
    return FileLoadResult(
        name,
        spec.file,
        "loaded",
        checksum,
        records=records,
        rejected=len(rejections),
        inserted=merged.inserted,
        updated=merged.updated,
        versions_closed=merged.versions_closed,
    )


def _record_file(
    conn: Any,
    partition: Partition,
    file_name: str,
    checksum: str,
    size: int,
    status: str,
    records: int | None = None,
    rejected: int | None = None,
    merged: MergeResult | None = None,
) -> None:
    conn.execute(
        "INSERT INTO audit.file_loads (file_name, sha256, size_bytes, status, partition_date, run_id, dag_id, "
        "records, rejected, inserted, updated, versions_closed) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            file_name,
            checksum,
            size,
            status,
            partition.key,
            partition.run_id,
            partition.dag_id,
            records,
            rejected,
            merged.inserted if merged else None,
            merged.updated if merged else None,
            merged.versions_closed if merged else None,
        ),
    )


@dataclass(frozen=True)
class ResolvedKeys:
    """Facts re-pointed at the right dimension rows, and the local days they belong to."""

    facts: int
    first_day: dt.date | None
    last_day: dt.date | None


# The arrival instant is the arrival wall time read in the destination's zone, as the transform
# computes it (localized, the same SQL); it follows the airport dimension like the keys do, so a late
# destination gets its flights' arr_ts. An instant not after departure is not stored (the load would
# have rejected it): arr_ts stays null, like a flight to an airport without a known zone.
_ARRIVAL = localized(sql.SQL("f.arr_local"), sql.SQL("nullif(d.tzone, '')"))
_RESOLVE = sql.SQL(
    """WITH computed AS (
    SELECT f.ctid AS row_id, f.dep_ts,
           coalesce(o.airport_key, -1) AS origin_airport_key,
           coalesce(d.airport_key, -1) AS dest_airport_key,
           coalesce(c.carrier_key, -1) AS carrier_key,
           coalesce(a.aircraft_key, -1) AS aircraft_key,
           {arrival} AS arrival
    FROM {fact} f
    LEFT JOIN {airport} o ON o.faa = f.origin AND o.airport_key >= 0
    LEFT JOIN {airport} d ON d.faa = f.dest AND d.airport_key >= 0
    LEFT JOIN {carrier} c ON c.carrier = f.carrier AND c.carrier_key >= 0
    LEFT JOIN {aircraft} a ON a.tailnum = f.tailnum AND a.aircraft_key >= 0
        AND a.valid_from <= f.flight_date AND f.flight_date < a.valid_to
    OFFSET 0
), resolved AS (
    SELECT row_id, origin_airport_key, dest_airport_key, carrier_key, aircraft_key,
           CASE WHEN dep_ts IS NULL OR arrival > dep_ts THEN arrival END AS arr_ts
    FROM computed
)
UPDATE {fact} f
SET origin_airport_key = r.origin_airport_key, dest_airport_key = r.dest_airport_key,
    carrier_key = r.carrier_key, aircraft_key = r.aircraft_key, arr_ts = r.arr_ts
FROM resolved r
WHERE f.ctid = r.row_id
  AND (f.origin_airport_key, f.dest_airport_key, f.carrier_key, f.aircraft_key, f.arr_ts)
      IS DISTINCT FROM (r.origin_airport_key, r.dest_airport_key, r.carrier_key, r.aircraft_key, r.arr_ts)
RETURNING f.flight_date"""
).format(
    arrival=_ARRIVAL,
    fact=sql.Identifier("core", "fact_flights"),
    airport=sql.Identifier("core", "dim_airport"),
    carrier=sql.Identifier("core", "dim_carrier"),
    aircraft=sql.Identifier("core", "dim_aircraft"),
)


def resolve_fact_keys(warehouse: URL, partition: Partition) -> ResolvedKeys:
    """Point every fact at the dimension rows its codes name now (late members, type-2 versions).

    Flights loaded before a member arrived carry the 'unknown' key; flights on or after a type-2
    change carry the version that was current when they loaded; flights to an airport whose zone was
    unknown have no arrival instant (arr_ts). One set-based UPDATE fixes all three and touches only
    facts whose values change, so a rerun changes nothing.
    """
    step = reference_partition("fact_keys", partition)
    started = time.perf_counter()
    with stage_log("resolve_fact_keys", step.log_context()) as counts, connect(warehouse) as wh:
        with wh.cursor() as cur:
            cur.execute("SELECT to_regclass('core.fact_flights') IS NOT NULL")
            row = cur.fetchone()
            days: list[dt.date] = []
            if row and row[0]:
                cur.execute(_RESOLVE)
                days = [day for (day,) in cur.fetchall() if isinstance(day, dt.date)]
        # Same transaction: the audit row says how many facts this run re-pointed (loaded).
        audit.record_run(
            wh, step, status="success", error=None, loaded=len(days), load_s=round(time.perf_counter() - started, 3)
        )
        counts.records_out = len(days)
        first, last = (min(days), max(days)) if days else (None, None)
        counts.extra.update(
            {"first_day": first.isoformat() if first else None, "last_day": last.isoformat() if last else None}
        )
    return ResolvedKeys(len(days), first, last)
