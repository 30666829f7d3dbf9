"""Transform: validate each raw hour (post_extract), convert it to a warehouse row (post_transform).

Valid rows go to clean staging with their source_row; every failing hour is a rejection with its reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, LiteralString
from zoneinfo import ZoneInfo

from psycopg import sql
from pydantic import ValidationError

from flightdeck.core import audit
from flightdeck.core.db import connect
from flightdeck.core.logs import stage_log
from flightdeck.core.replace import EXTRACT_STAGES
from flightdeck.core.stage import StageContext
from flightdeck.core.staging import copy_records, create_staging_table, read_chunks
from flightdeck.core.validation import Rejection, explain
from flightdeck.sources.weather.config import WeatherConfig
from flightdeck.sources.weather.hours import observation_input, to_row
from flightdeck.sources.weather.schemas import WeatherObservation, WeatherRow

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


def validate_and_transform(rows: list[dict[str, Any]], timezone: str) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Raw staging rows -> warehouse rows (with source_row) and rejections, one per failing hour."""
    zone = ZoneInfo(timezone)
    out: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    for row in rows:
        values: dict[str, Any] = dict(row["raw"])
        units: dict[str, str] = dict(row["units"])
        # The hour's instant goes with the record: the check counts a rejected hour as accounted for.
        record = {
            "origin": row["origin"],
            "obs_hour": row["obs_hour"].astimezone(dt.UTC).isoformat(),
            "utc_offset_seconds": row["utc_offset_seconds"],
            **values,
        }
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


def transform(ctx: StageContext[WeatherConfig]) -> tuple[int, int]:
    """Validate raw staging, build clean staging; returns (valid, rejected)."""
    cfg, partition = ctx.settings, ctx.partition
    raw = ctx.staging_table("raw")
    clean = ctx.staging_table("clean")
    with stage_log("transform", partition.log_context()) as counts, connect(ctx.warehouse) as wh:
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
    with connect(ctx.warehouse) as wh:
        audit.record_transformed(wh, partition, valid, len(all_rejections), counts.duration_s)
    return valid, len(all_rejections)
