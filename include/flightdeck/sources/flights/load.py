"""Load: clean staging replaces the partition of core.fact_flights, enriched with the weather at departure.

Pre-load checks (null keys, rows outside the day, duplicate keys), the reject-share guard and the
replace run in one transaction (flightdeck.core.replace.load_partition); the counts go to the audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from flightdeck.core import audit
from flightdeck.core.compose import count
from flightdeck.core.db import connect
from flightdeck.core.logs import stage_log
from flightdeck.core.replace import Enrichment, PartitionLoad, load_partition
from flightdeck.core.stage import StageContext
from flightdeck.core.staging import copy_records
from flightdeck.core.validation import Rejection
from flightdeck.sources.flights.config import FlightsConfig
from flightdeck.sources.flights.transform import FACT_COLUMNS
from flightdeck.warehouse.enrichment import count_without_weather, weather_enrichment_columns, weather_join


@dataclass(frozen=True)
class ReplayBatch:
    """Rejected records that pass now: their fact rows and the rejections they came from.

    `refreshed`: stored rejections to rewrite as the source holds them now (a replay from the source),
    in the same transaction as the load.
    """

    facts: list[dict[str, Any]]
    rejected_ids: list[int]
    replay_id: str
    refreshed: list[tuple[int, Rejection]] = field(default_factory=list[tuple[int, Rejection]])


def fact_load(cfg: FlightsConfig) -> PartitionLoad:
    return PartitionLoad(
        target=cfg.target,
        columns=FACT_COLUMNS,
        order_column="source_flight_id",
        content_columns=[name for name in FACT_COLUMNS if name != "source_flight_id"],
        enrichment=Enrichment(weather_enrichment_columns("w"), weather_join("s", "w")),
    )


def load(ctx: StageContext[FlightsConfig], replay: ReplayBatch | None = None) -> int:
    """Pre-load checks, then replace the partition in one transaction; returns rows loaded.

    With a replay batch, its facts join clean staging and its rejections are marked replayed in that
    same transaction: they are loaded and marked together, or (when the load fails) neither. The run's
    `valid` then counts clean staging with the replayed records, so every count of its audit row holds.
    """
    partition = ctx.partition
    clean = ctx.staging_table("clean")
    valid: int | None = None
    with stage_log("load", partition.log_context()) as counts, connect(ctx.warehouse) as wh:
        if replay is not None:
            copy_records(wh, clean, FACT_COLUMNS, replay.facts)
            audit.mark_replayed(wh, replay.rejected_ids, replay.replay_id)
            audit.refresh_rejections(wh, replay.refreshed)
            valid = count(wh, sql.SQL("SELECT count(*) FROM {}").format(clean))
        outcome = load_partition(wh, partition, clean, fact_load(ctx.settings), ctx.settings.max_reject_share)
        without_weather = count_without_weather(wh, partition.start, partition.end)
        counts.records_in = outcome.loaded + outcome.preload_rejected + outcome.duplicates
        counts.records_out = outcome.loaded
        counts.rejected = outcome.preload_rejected
        counts.extra["duplicates"] = outcome.duplicates
        counts.extra["without_weather"] = without_weather
    with connect(ctx.warehouse) as wh:
        audit.record_loaded(wh, partition, outcome.loaded, outcome.rejected, outcome.duplicates, counts.duration_s)
        audit.record_run(wh, partition, without_weather=without_weather)
        if valid is not None:
            audit.record_run(wh, partition, valid=valid)
    return outcome.loaded
