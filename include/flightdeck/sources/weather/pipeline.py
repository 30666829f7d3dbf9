"""The weather pipeline's stages, each idempotent per partition (a local day), like the flights stages.

extract: one API request per origin airport -> the partition's raw staging table (the hours as the
API gave them). transform: validate each hour (post_extract), convert to the warehouse row
(post_transform) -> clean staging; bad hours go to audit.rejected_records. load: pre-load checks, then
replace the partition of core.weather_hourly in one transaction. check: extracted = loaded + rejected.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, LiteralString
from zoneinfo import ZoneInfo

from psycopg import sql
from pydantic import ValidationError
from sqlalchemy.engine import URL

from flightdeck.core import audit
from flightdeck.core.config import ProjectConfig
from flightdeck.core.db import connect, ensure_sql_file, qualified
from flightdeck.core.errors import ReconciliationError
from flightdeck.core.logs import stage_log
from flightdeck.core.partition import Partition
from flightdeck.core.replace import preload_rejections, replace_partition
from flightdeck.core.staging import copy_records, create_staging_table, read_chunks
from flightdeck.core.validation import Rejection, explain
from flightdeck.sources.flights.pipeline import check_partition, ensure_warehouse, require_complete_staging
from flightdeck.sources.weather.api import ArchiveClient, request_for
from flightdeck.sources.weather.schemas import WeatherObservation, WeatherRow
from flightdeck.sources.weather.transform import HourRecord, hour_records, observation_input, partition_window, to_row
from flightdeck.warehouse.enrichment import refresh_fact_weather

PIPELINE = "weather"
EXTRACT_STAGES = ("post_extract", "post_transform")
RAW_COLUMNS: tuple[tuple[str, LiteralString], ...] = (
    ("source_row", "integer"),
    ("origin", "text"),
    ("obs_hour", "timestamptz"),
    ("utc_offset_seconds", "integer"),
    ("raw", "jsonb"),
    ("units", "jsonb"),
)
ROW_TYPES: dict[str, LiteralString] = {
    "origin": "text",
    "obs_hour": "timestamptz",
    "obs_date": "date",
    "temp_f": "double precision",
    "dewp_f": "double precision",
    "humid_pct": "double precision",
    "wind_dir_deg": "double precision",
    "wind_speed_mph": "double precision",
    "wind_gust_mph": "double precision",
    "precip_in": "double precision",
    "pressure_hpa": "double precision",
    "visib_m": "double precision",
}
ROW_COLUMNS: tuple[str, ...] = tuple(WeatherRow.model_fields)
CLEAN_COLUMNS: tuple[tuple[str, LiteralString], ...] = (
    *((name, ROW_TYPES[name]) for name in ROW_COLUMNS),
    ("source_row", "integer"),
)


def ensure_weather_tables(warehouse: URL, staging_schema: str) -> None:
    """warehouse.sql (audit tables, staging schema), then weather.sql, each once per version: idempotent."""
    ensure_warehouse(warehouse, staging_schema)
    with connect(warehouse) as conn:
        ensure_sql_file(conn, "weather.sql", ledger="audit.schema_migrations")


def select_hours(records: list[HourRecord], start: dt.datetime, end: dt.datetime) -> tuple[list[HourRecord], int, int]:
    """The partition's hours that carry any value; also how many were outside it and how many empty."""
    inside = [record for record in records if start <= record.obs_hour < end]
    kept = [record for record in inside if record.has_values()]
    return kept, len(records) - len(inside), len(inside) - len(kept)


def extract(warehouse: URL, project: ProjectConfig, partition: Partition, client: ArchiveClient | None = None) -> int:
    """Fetch every airport's hours of the partition into its raw staging table; returns the row count."""
    cfg = project.weather_config()
    api = client or ArchiveClient.from_config(cfg)
    raw = partition.staging_table(project.staging_schema, "raw")
    first, last = partition_window(partition.start, partition.end, cfg.timezone)
    with stage_log("extract", partition.log_context()) as counts:
        ensure_weather_tables(warehouse, project.staging_schema)
        rows: list[dict[str, Any]] = []
        outside = empty = 0
        for origin in cfg.airports:
            request = request_for(cfg, origin, partition.start, partition.end)
            response = api.fetch(request)
            kept, out, none = select_hours(hour_records(response, origin, request.hourly), first, last)
            outside += out
            empty += none
            units = json.dumps({name: response.hourly_units[name] for name in request.hourly}, sort_keys=True)
            rows.extend(
                {
                    "source_row": len(rows) + number,
                    "origin": record.origin,
                    "obs_hour": record.obs_hour,
                    "utc_offset_seconds": record.utc_offset_seconds,
                    "raw": json.dumps(record.raw, sort_keys=True),
                    "units": units,
                }
                for number, record in enumerate(kept, start=1)
            )
        with connect(warehouse) as wh:
            create_staging_table(wh, raw, RAW_COLUMNS)
            copied = copy_records(wh, raw, [name for name, _ in RAW_COLUMNS], rows)
        counts.records_in = copied + empty
        counts.records_out = copied
        counts.extra.update({"airports": len(cfg.airports), "hours_without_values": empty, "outside_day": outside})
    with connect(warehouse) as wh:
        audit.record_extracted(wh, partition, copied, counts.duration_s)
    return copied


def validate_and_transform(rows: list[dict[str, Any]], timezone: str) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Raw staging rows -> warehouse rows (with source_row) and rejections, one per failing hour."""
    zone = ZoneInfo(timezone)
    out: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    for row in rows:
        values: dict[str, Any] = dict(row["raw"])
        units: dict[str, str] = dict(row["units"])
        record = {"origin": row["origin"], "utc_offset_seconds": row["utc_offset_seconds"], **values}
        try:
            observation = WeatherObservation.model_validate(
                observation_input(str(row["origin"]), row["obs_hour"], values, units)
            )
        except ValidationError as exc:
            field, reason = explain(exc)
            rejections.append(Rejection("post_extract", field, reason, record))
            continue
        converted = to_row(observation, zone)
        try:
            WeatherRow.model_validate(converted, context={"timezone": timezone})
        except ValidationError as exc:
            field, reason = explain(exc)
            rejections.append(Rejection("post_transform", field, reason, record))
            continue
        out.append({**converted, "source_row": row["source_row"]})
    return out, rejections


def transform(warehouse: URL, project: ProjectConfig, partition: Partition) -> tuple[int, int]:
    """Validate raw staging, build clean staging; returns (valid, rejected)."""
    cfg = project.weather_config()
    raw = partition.staging_table(project.staging_schema, "raw")
    clean = partition.staging_table(project.staging_schema, "clean")
    with stage_log("transform", partition.log_context()) as counts, connect(warehouse) as wh:
        create_staging_table(wh, clean, CLEAN_COLUMNS)
        query = sql.SQL("SELECT * FROM {} ORDER BY source_row").format(raw)
        valid = 0
        all_rejections: list[Rejection] = []
        for chunk in read_chunks(wh, query, [], 10_000):
            counts.records_in += len(chunk)
            rows, rejections = validate_and_transform(chunk, cfg.timezone)
            valid += copy_records(wh, clean, [name for name, _ in CLEAN_COLUMNS], rows)
            all_rejections.extend(rejections)
        audit.replace_rejections(wh, partition, EXTRACT_STAGES, all_rejections)
        counts.records_out = valid
        counts.rejected = len(all_rejections)
    with connect(warehouse) as wh:
        audit.record_transformed(wh, partition, valid, len(all_rejections), counts.duration_s)
    return valid, len(all_rejections)


def load(warehouse: URL, project: ProjectConfig, partition: Partition) -> int:
    """Pre-load checks, then replace the partition of core.weather_hourly in one transaction."""
    cfg = project.weather_config()
    clean = partition.staging_table(project.staging_schema, "clean")
    with stage_log("load", partition.log_context()) as counts, connect(warehouse) as wh:
        run = audit.run_row(wh, partition) or {}
        extracted = int(run.get("extracted") or 0)
        require_complete_staging(wh, clean, partition, extracted, EXTRACT_STAGES)
        preload = preload_rejections(
            wh,
            clean,
            cfg.target.key,
            cfg.target.partition_column,
            partition.start,
            partition.end,
            order_column="source_row",
            content_columns=[name for name in ROW_COLUMNS if name not in cfg.target.key],
        )
        audit.replace_rejections(wh, partition, ["pre_load"], preload.rejections)
        rejected = audit.count_rejections(wh, partition)
        if extracted and rejected / extracted > cfg.max_reject_share:
            raise ReconciliationError(
                f"{rejected} of {extracted} hourly records rejected ({rejected / extracted:.1%}), above the "
                f"configured max_reject_share {cfg.max_reject_share:.1%}: the partition was not loaded; "
                "see audit.rejected_records for the reasons"
            )
        inserted = replace_partition(
            wh,
            qualified(cfg.target.table),
            clean,
            ROW_COLUMNS,
            cfg.target.key,
            cfg.target.partition_column,
            partition.start,
            partition.end,
            partition.run_id,
            preload.excluded_ctids,
        ).rows
        # Same transaction: the day's flights carry exactly the weather now loaded.
        counts.extra["flights_refreshed"] = refresh_fact_weather(wh, partition.start, partition.end)
        counts.records_in = inserted + len(preload.rejections) + preload.duplicates
        counts.records_out = inserted
        counts.rejected = len(preload.rejections)
        counts.extra["duplicates"] = preload.duplicates
    with connect(warehouse) as wh:
        audit.record_loaded(wh, partition, inserted, rejected, preload.duplicates, counts.duration_s)
    return inserted


def check(warehouse: URL, project: ProjectConfig, partition: Partition) -> Mapping[str, int]:
    """extracted = loaded + rejected (+ exact duplicates removed), keys unique and not null."""
    return check_partition(warehouse, project.weather_config().target, partition)


def weather_partition(day: dt.date, dag_id: str = "manual", run_id: str = "manual") -> Partition:
    return Partition(PIPELINE, day, day + dt.timedelta(days=1), dag_id, run_id)
