"""Extract: one API request per origin airport for the partition's days -> the partition's raw staging table.

The request asks in GMT for the UTC days that the local days span (see api.request_for), and the
hours inside the local days are kept: 23, 24 or 25 a day. Each hour that carries a value is staged
as the API gave it (values and units as JSON), for the transform to validate; the hours the API
answered without any value are recorded in audit.weather_empty_hours, for the check to account for.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, LiteralString

from flightdeck.core import audit
from flightdeck.core.db import connect
from flightdeck.core.logs import stage_log
from flightdeck.core.stage import StageContext
from flightdeck.core.staging import copy_records, create_staging_table
from flightdeck.sources.weather.api import ArchiveClient, NotYetArchived, request_for
from flightdeck.sources.weather.completeness import replace_empty_hours
from flightdeck.sources.weather.config import WeatherConfig
from flightdeck.sources.weather.hours import HourRecord, hour_records, partition_window

RAW_COLUMNS: tuple[tuple[str, LiteralString], ...] = (
    ("source_row", "integer"),
    ("origin", "text"),
    ("obs_hour", "timestamptz"),
    ("utc_offset_seconds", "integer"),
    ("raw", "jsonb"),
    ("units", "jsonb"),
)


def select_hours(
    records: list[HourRecord], start: dt.datetime, end: dt.datetime
) -> tuple[list[HourRecord], int, list[HourRecord]]:
    """The partition's hours that carry any value; also how many were outside it, and its empty hours."""
    inside = [record for record in records if start <= record.obs_hour < end]
    kept = [record for record in inside if record.has_values()]
    empty = [record for record in inside if not record.has_values()]
    return kept, len(records) - len(inside), empty


def extract(ctx: StageContext[WeatherConfig], client: ArchiveClient | None = None) -> int:
    """Fetch every airport's hours of the partition into its raw staging table; returns the row count."""
    cfg, partition = ctx.settings, ctx.partition
    api = client or ArchiveClient.from_config(cfg)
    raw = ctx.staging_table("raw")
    first, last = partition_window(partition.start, partition.end, cfg.timezone)
    with stage_log("extract", partition.log_context()) as counts:
        rows: list[dict[str, Any]] = []
        outside = 0
        empty: list[HourRecord] = []
        for origin in cfg.airports:
            request = request_for(cfg, origin, partition.start, partition.end)
            response = api.fetch(request)
            kept, out, none = select_hours(hour_records(response, origin, request.hourly), first, last)
            outside += out
            empty.extend(none)
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
        with connect(ctx.warehouse) as wh:
            create_staging_table(wh, raw, RAW_COLUMNS)
            copied = copy_records(wh, raw, [name for name, _ in RAW_COLUMNS], rows)
            without_values = replace_empty_hours(wh, partition, (first, last), empty, cfg.timezone)
        counts.records_in = copied + without_values
        counts.records_out = copied
        counts.extra.update(
            {"airports": len(cfg.airports), "hours_without_values": without_values, "outside_day": outside}
        )
    with connect(ctx.warehouse) as wh:
        audit.record_extracted(wh, partition, copied, counts.duration_s)
    return copied


def waiting_for(ctx: StageContext[WeatherConfig], client: ArchiveClient | None = None) -> str | None:
    """None once the archive serves the partition's days, else what the run waits for.

    Asks for the first airport's hours of the partition, as the extract will: an archive that ends
    before the day (NotYetArchived) is a wait; any other answer means the day is there, and a
    permanent fault of the request fails here as it would in the extract.
    """
    cfg, partition = ctx.settings, ctx.partition
    api = client or ArchiveClient.from_config(cfg)
    origin = next(iter(cfg.airports))
    try:
        api.fetch(request_for(cfg, origin, partition.start, partition.end))
    except NotYetArchived as exc:
        return f"the weather archive to cover {partition.start} ({exc.archive_end_text()})"
    return None
