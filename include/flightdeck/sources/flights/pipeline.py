"""The flights pipeline: source database (ops.flights) -> core.fact_flights, one local day per run.

extract (COPY into raw staging) -> transform (validate, build fact rows in clean staging) -> load
(pre-load checks, replace the day, weather at departure) -> check (extracted = loaded + rejected
+ duplicates removed). The flights_daily DAG runs these stages through the generic operator.
"""

from __future__ import annotations

from pathlib import Path

from flightdeck.core.reconcile import check
from flightdeck.core.stage import Pipeline
from flightdeck.sources.flights.config import FlightsConfig
from flightdeck.sources.flights.extract import extract, waiting_for
from flightdeck.sources.flights.load import load
from flightdeck.sources.flights.transform import transform

NAME = "flights"
# The source system's own DDL (ops.flights): what `etl seed` and the tests create in the source database.
SOURCE_DDL = Path(__file__).resolve().parent / "sql" / "source.sql"


PIPELINE = Pipeline[FlightsConfig](
    name=NAME,
    stages={"extract": extract, "transform": transform, "load": load, "check": check},
    timezone=lambda settings: settings.timezone,
    source_conn_id=lambda settings: settings.source.conn_id,
    ready=waiting_for,
)
