"""The weather pipeline: the weather API -> core.weather_hourly, one local day per run.

extract (one request per origin airport into raw staging) -> transform (validate and convert each
hour into clean staging) -> load (pre-load checks, replace the day, refresh the day's flights) ->
check (extracted = loaded + rejected + duplicates removed; per airport, the day's 23, 24 or 25 hours =
stored + rejected + reported missing by the API).
"""

from __future__ import annotations

from flightdeck.core.stage import Pipeline
from flightdeck.sources.weather.check import check
from flightdeck.sources.weather.config import WeatherConfig
from flightdeck.sources.weather.extract import extract, waiting_for
from flightdeck.sources.weather.load import load
from flightdeck.sources.weather.transform import transform

NAME = "weather"


PIPELINE = Pipeline[WeatherConfig](
    name=NAME,
    stages={"extract": extract, "transform": transform, "load": load, "check": check},
    timezone=lambda settings: settings.timezone,
    ready=waiting_for,
)
