"""Check: the generic reconciliation (extracted = loaded + rejected + duplicates, keys), and every hour of
the day accounted for per airport (expected = stored + rejected + reported missing by the API)."""

from __future__ import annotations

from collections.abc import Mapping

from flightdeck.core.reconcile import check_partition
from flightdeck.core.stage import StageContext
from flightdeck.sources.weather.completeness import hour_findings
from flightdeck.sources.weather.config import WeatherConfig


def check(ctx: StageContext[WeatherConfig]) -> Mapping[str, int]:
    """Reconcile the day; a count that is off or an hour unaccounted for fails the run (ReconciliationError)."""
    cfg, partition = ctx.settings, ctx.partition
    return check_partition(ctx.warehouse, cfg.target, partition, more=lambda conn: hour_findings(conn, cfg, partition))
