"""The SQL checks mirror the Pydantic models: every field and rule has its check, and nothing is left out.

No database: whether PostgreSQL's verdicts agree with the models' is the property test
tests/integration/test_flight_checks_property.py.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, Field

from flightdeck.core.sqlchecks import model_checks
from flightdeck.sources.flights.checks import FACT_CHECKS, SOURCE_CHECKS
from flightdeck.sources.flights.extract import SOURCE_COLUMNS
from flightdeck.sources.flights.schemas import FACT_RULES, SOURCE_RULES, FactFlight, SourceFlight
from flightdeck.sources.flights.transform import fact_staging_columns
from flightdeck.sources.flights.transform_sql import COPIED_FROM_SOURCE, FACT_CHECKS_AFTER_SOURCE


def test_every_rule_and_field_has_its_sql_check() -> None:
    assert [check.name for check in SOURCE_CHECKS.fields] == list(SourceFlight.model_fields)
    assert [check.name for check in FACT_CHECKS.fields] == list(FactFlight.model_fields)
    assert [check.name for check in SOURCE_CHECKS.rules] == [rule.__name__.lstrip("_") for rule in SOURCE_RULES]
    assert [check.name for check in FACT_CHECKS.rules] == [rule.__name__.lstrip("_") for rule in FACT_RULES]
    SOURCE_CHECKS.require_columns(dict(SOURCE_COLUMNS))
    FACT_CHECKS.require_columns(dict(fact_staging_columns()))


def test_a_rule_without_a_sql_counterpart_is_refused() -> None:
    def _unmirrored(f: SourceFlight, zone: ZoneInfo) -> None:
        """A rule nobody wrote SQL for."""

    with pytest.raises(TypeError, match="_unmirrored has no @sql_counterpart"):
        model_checks(SourceFlight, (*SOURCE_RULES, _unmirrored))


def test_a_constraint_without_a_sql_counterpart_is_refused() -> None:
    class Odd(BaseModel):
        minutes: Annotated[int, Field(multiple_of=5)]

    with pytest.raises(TypeError, match="multiple_of"):
        model_checks(Odd, ())


def test_the_fact_checks_skip_only_values_the_source_checks_already_checked() -> None:
    skipped = {check.name for check in FACT_CHECKS.fields} - {check.name for check in FACT_CHECKS_AFTER_SOURCE.fields}

    assert skipped == set(COPIED_FROM_SOURCE)
    for fact_field in skipped:
        assert FACT_CHECKS.field(fact_field).same_constraint(SOURCE_CHECKS.field(COPIED_FROM_SOURCE[fact_field]))
    assert FACT_CHECKS_AFTER_SOURCE.rules == FACT_CHECKS.rules
