"""Extract: a day's source rows land in that day's raw staging table, exactly, by COPY."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig
from flightdeck.core.errors import PermanentPipelineError, SourceNotReadyError, is_transient
from flightdeck.core.partition import day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.sources.flights import pipeline as flights
from tests.support import scalar, stage_context

JAN_1 = day_partition("flights", dt.date(2013, 1, 1))
JAN_2 = day_partition("flights", dt.date(2013, 1, 2))


def source_count(url: URL, day: dt.date) -> int:
    return int(
        scalar(
            url,
            "SELECT count(*) FROM ops.flights WHERE year = %s AND month = %s AND day = %s",
            (day.year, day.month, day.day),
        )
    )


def test_extract_copies_exactly_the_days_source_rows(endpoints: Endpoints, project: ProjectConfig) -> None:
    copied = flights.extract(stage_context(project, JAN_1, endpoints))

    assert copied == source_count(endpoints.require_source(), JAN_1.start) == 842
    assert scalar(endpoints.warehouse, "SELECT count(*) FROM staging.flights_raw_p20130101") == 842
    assert scalar(endpoints.warehouse, "SELECT count(DISTINCT flight_id) FROM staging.flights_raw_p20130101") == 842
    assert (
        scalar(
            endpoints.warehouse,
            "SELECT extracted FROM audit.load_runs WHERE pipeline = 'flights' AND partition_date = '2013-01-01'",
        )
        == 842
    )


def test_rerunning_extract_replaces_staging_instead_of_appending(endpoints: Endpoints, project: ProjectConfig) -> None:
    flights.extract(stage_context(project, JAN_1, endpoints))
    flights.extract(stage_context(project, JAN_1, endpoints))

    assert scalar(endpoints.warehouse, "SELECT count(*) FROM staging.flights_raw_p20130101") == 842


def test_partitions_of_different_days_do_not_touch_each_other(endpoints: Endpoints, project: ProjectConfig) -> None:
    flights.extract(stage_context(project, JAN_1, endpoints))
    flights.extract(stage_context(project, JAN_2, endpoints))

    assert scalar(endpoints.warehouse, "SELECT count(*) FROM staging.flights_raw_p20130101") == 842
    assert scalar(endpoints.warehouse, "SELECT count(*) FROM staging.flights_raw_p20130102") == source_count(
        endpoints.require_source(), JAN_2.start
    )


def test_a_day_without_source_rows_is_refused_as_not_delivered_yet(
    endpoints: Endpoints, project: ProjectConfig
) -> None:
    empty = day_partition("flights", dt.date(2014, 6, 1))

    with pytest.raises(SourceNotReadyError, match=r"ops\.flights has no rows for 2014-06-01") as caught:
        flights.extract(stage_context(project, empty, endpoints))

    assert is_transient(caught.value)


def test_a_day_without_source_rows_extracts_nothing_where_empty_days_are_allowed(
    endpoints: Endpoints, project: ProjectConfig
) -> None:
    settings = project.pipeline("flights").model_copy(update={"allow_empty_partitions": True})
    lenient = project.model_copy(update={"pipelines": {**project.pipelines, "flights": settings}})
    empty = day_partition("flights", dt.date(2014, 6, 1))

    assert flights.extract(stage_context(lenient, empty, endpoints)) == 0


def test_an_unreachable_source_is_a_transient_error(warehouse_url: URL, project: ProjectConfig) -> None:
    nowhere = URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=1, database="x")

    with pytest.raises(psycopg.OperationalError) as caught:
        flights.extract(stage_context(project, JAN_1, Endpoints(source=nowhere, warehouse=warehouse_url)))

    assert is_transient(caught.value)


def test_a_missing_source_table_is_a_permanent_error(pg_server, warehouse_url: URL, project: ProjectConfig) -> None:  # type: ignore[no-untyped-def]
    empty_source = pg_server.create_database("fdt_empty")
    try:
        with pytest.raises(PermanentPipelineError, match=r"source table ops\.flights does not exist") as caught:
            flights.extract(stage_context(project, JAN_1, Endpoints(source=empty_source, warehouse=warehouse_url)))
        assert not is_transient(caught.value)
    finally:
        from flightdeck.core.db import dispose_engines

        dispose_engines()
        pg_server.drop_database(empty_source)
