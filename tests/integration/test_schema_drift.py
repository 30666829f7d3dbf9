"""Schema drift in the source is a permanent error naming the column, never silently wrong data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig
from flightdeck.core.db import connect, dispose_engines
from flightdeck.core.errors import PermanentPipelineError, is_transient
from flightdeck.core.partition import day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.sources.flights import pipeline as flights
from tests.conftest import PgServer
from tests.support import scalar, stage_context

DAY = day_partition("flights", dt.date(2013, 1, 1))


@pytest.fixture
def drifting_source(pg_server: PgServer, dirty_source: URL, warehouse_url: URL) -> Iterator[Endpoints]:
    yield Endpoints(source=dirty_source, warehouse=warehouse_url)
    dispose_engines()


def alter(url: URL, statement: str) -> None:
    with connect(url) as conn:
        conn.execute(statement.encode())


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("ALTER TABLE ops.flights DROP COLUMN air_time", "column air_time is missing"),
        (
            "ALTER TABLE ops.flights ALTER COLUMN dep_delay TYPE numeric(6,1)",
            "column dep_delay is numeric, expected integer",
        ),
        ("ALTER TABLE ops.flights ALTER COLUMN carrier TYPE bytea USING carrier::bytea", "column carrier is bytea"),
        ("ALTER TABLE ops.flights ADD COLUMN gate text", "column gate is new (set allow_new_columns to accept it)"),
    ],
    ids=["removed", "retyped-numeric", "retyped-bytea", "added"],
)
def test_drift_fails_the_extract_naming_the_column(
    drifting_source: Endpoints, project: ProjectConfig, statement: str, message: str
) -> None:
    alter(drifting_source.require_source(), statement)

    with pytest.raises(PermanentPipelineError, match=r"schema drift in ops\.flights") as caught:
        flights.extract(stage_context(project, DAY, drifting_source))

    assert message in str(caught.value)
    assert not is_transient(caught.value)


def test_a_new_column_is_accepted_and_ignored_where_the_configuration_allows_it(
    drifting_source: Endpoints, project: ProjectConfig
) -> None:
    alter(drifting_source.require_source(), "ALTER TABLE ops.flights ADD COLUMN gate text DEFAULT 'B12'")
    settings = project.pipeline("flights")
    lenient = project.model_copy(
        update={
            "pipelines": {
                "flights": settings.model_copy(
                    update={"source": settings.source.model_copy(update={"allow_new_columns": True})}
                )
            }
        }
    )

    copied = flights.extract(stage_context(lenient, DAY, drifting_source))

    assert copied == scalar(drifting_source.require_source(), "SELECT count(*) FROM ops.flights")
    assert (
        scalar(
            drifting_source.warehouse,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'flights_raw_p20130101' "
            "AND column_name = 'gate'",
        )
        == 0
    )


def test_widening_an_integer_column_to_smallint_compatible_types_is_not_drift(
    drifting_source: Endpoints, project: ProjectConfig
) -> None:
    alter(drifting_source.require_source(), "ALTER TABLE ops.flights ALTER COLUMN hour TYPE smallint")

    assert flights.extract(stage_context(project, DAY, drifting_source)) > 0
