"""The flight models' rules as set-based SQL checks (see flightdeck.core.sqlchecks)."""

from __future__ import annotations

from flightdeck.core.sqlchecks import model_checks
from flightdeck.sources.flights.schemas import FACT_RULES, SOURCE_RULES, FactFlight, SourceFlight

SOURCE_CHECKS = model_checks(SourceFlight, SOURCE_RULES)
FACT_CHECKS = model_checks(FactFlight, FACT_RULES)
