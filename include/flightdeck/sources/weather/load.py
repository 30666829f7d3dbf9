"""Load: clean staging replaces the partition of core.weather_hourly; the day's flights get that weather.

Pre-load checks, the reject-share guard and the replace run in one transaction
(flightdeck.core.replace.load_partition), and in that same transaction the day's facts are refreshed
with the weather now loaded (weather at departure), so flights and weather never disagree.
"""

from __future__ import annotations

from flightdeck.core import audit
from flightdeck.core.db import connect
from flightdeck.core.logs import stage_log
from flightdeck.core.replace import PartitionLoad, load_partition
from flightdeck.core.stage import StageContext
from flightdeck.sources.weather.config import WeatherConfig
from flightdeck.sources.weather.transform import ROW_COLUMNS
from flightdeck.warehouse.enrichment import refresh_fact_weather


def hourly_load(cfg: WeatherConfig) -> PartitionLoad:
    return PartitionLoad(
        target=cfg.target,
        columns=ROW_COLUMNS,
        order_column="source_row",
        content_columns=[name for name in ROW_COLUMNS if name not in cfg.target.key],
    )


def load(ctx: StageContext[WeatherConfig]) -> int:
    """Pre-load checks, then replace the partition of core.weather_hourly in one transaction."""
    partition = ctx.partition
    clean = ctx.staging_table("clean")
    with stage_log("load", partition.log_context()) as counts, connect(ctx.warehouse) as wh:
        outcome = load_partition(wh, partition, clean, hourly_load(ctx.settings), ctx.settings.max_reject_share)
        # Same transaction: the day's flights carry exactly the weather now loaded.
        counts.extra["flights_refreshed"] = refresh_fact_weather(wh, partition.start, partition.end)
        counts.records_in = outcome.loaded + outcome.preload_rejected + outcome.duplicates
        counts.records_out = outcome.loaded
        counts.rejected = outcome.preload_rejected
        counts.extra["duplicates"] = outcome.duplicates
    with connect(ctx.warehouse) as wh:
        audit.record_loaded(wh, partition, outcome.loaded, outcome.rejected, outcome.duplicates, counts.duration_s)
    return outcome.loaded
