"""The warehouse's own DDL: core (dimensions, facts, weather), audit and the ledger of applied DDL.

Applied by flightdeck.core.migrations.ensure_schema, together with the DDL files of the sources and
marts that have their own (flightdeck.catalog lists them all, in order).
"""

from __future__ import annotations

from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"
# warehouse.sql first: it creates the ledger (audit.schema_migrations) the others are recorded in.
DDL: tuple[Path, ...] = (SQL_DIR / "warehouse.sql", SQL_DIR / "weather.sql")
# weather.sql's audit table: the hours the weather API answered without any value (see the weather check).
WEATHER_EMPTY_HOURS = ("audit", "weather_empty_hours")
