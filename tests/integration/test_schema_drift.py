"""Schema drift in the source is a permanent error naming the column, never silently wrong data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from flightdeck.core.config import ProjectConfig
from flightdeck.core.db import connect, dispose_engines
from flightdeck.core.errors import PermanentPipelineError, is_transient
from flightdeck.sources.flights import pipeline
from flightdeck.sources.flights.pipeline import Endpoints
from tests.conftest import PgServer
from tests.support import scalar

DAY = pipeline.default_partition("flights", dt.date(2013, 1, 1))


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
    alter(drifting_source.source, statement)

    with pytest.raises(PermanentPipelineError, match=r"schema drift in ops\.flights") as caught:
        pipeline.extract(drifting_source, project, DAY)

    assert message in str(caught.value)
    assert not is_transient(caught.value)


def test_a_new_column_is_accepted_and_ignored_where_the_configuration_allows_it(
    drifting_source: Endpoints, project: ProjectConfig
) -> None:
    alter(drifting_source.source, "ALTER TABLE ops.flights ADD COLUMN gate text DEFAULT 'B12'")
    flights = project.pipeline("flights")
    lenient = project.model_copy(
        update={
            "pipelines": {
                "flights": flights.model_copy(
                    update={"source": flights.source.model_copy(update={"allow_new_columns": True})}
                )
            }
        }
    )

    copied = pipeline.extract(drifting_source, lenient, DAY)

    assert copied == scalar(drifting_source.source, "SELECT count(*) FROM ops.flights")
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
    alter(drifting_source.source, "ALTER TABLE ops.flights ALTER COLUMN hour TYPE smallint")

    assert pipeline.extract(drifting_source, project, DAY) > 0
