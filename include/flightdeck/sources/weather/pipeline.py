"""The weather pipeline: the weather API -> core.weather_hourly, one local day per run.

extract (one request per origin airport into raw staging) -> transform (validate and convert each
hour into clean staging) -> load (pre-load checks, replace the day, refresh the day's flights) ->
check (extracted = loaded + rejected + duplicates removed).
"""

from __future__ import annotations

from collections.abc import Mapping

from flightdeck.core.reconcile import check_partition
from flightdeck.core.stage import Pipeline, StageContext
from flightdeck.sources.weather.config import WeatherConfig
from flightdeck.sources.weather.extract import extract
from flightdeck.sources.weather.load import load
from flightdeck.sources.weather.transform import transform

NAME = "weather"


def check(ctx: StageContext[WeatherConfig]) -> Mapping[str, int]:
    """extracted = loaded + rejected (+ exact duplicates removed), keys unique and not null."""
    return check_partition(ctx.warehouse, ctx.settings.target, ctx.partition)


PIPELINE = Pipeline[WeatherConfig](
    name=NAME,
    stages={"extract": extract, "transform": transform, "load": load, "check": check},
    timezone=lambda settings: settings.timezone,
)
