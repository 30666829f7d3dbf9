"""Validate, transform, load and check against real PostgreSQL, with real and malformed rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig, ensure_warehouse
from flightdeck.core.db import connect
from flightdeck.core.errors import PermanentPipelineError, ReconciliationError
from flightdeck.core.partition import day_partition
from flightdeck.core.reconcile import count_key_problems, primary_key_is
from flightdeck.core.stage import Endpoints
from flightdeck.sources.flights import pipeline as flights
from tests.integration.conftest import SQL_INJECTION
from tests.support import load_reference, scalar, stage_context, table_checksum

DAY = day_partition("flights", dt.date(2013, 1, 1))
REAL_ROWS = 842


def run_all(endpoints: Endpoints, project: ProjectConfig) -> None:
    load_reference(endpoints.warehouse, project)
    flights.extract(stage_context(project, DAY, endpoints))
    flights.transform(stage_context(project, DAY, endpoints))
    flights.load(stage_context(project, DAY, endpoints))
    flights.check(stage_context(project, DAY, endpoints))


@pytest.fixture
def dirty(dirty_source: URL, warehouse_url: URL) -> Endpoints:
    return Endpoints(source=dirty_source, warehouse=warehouse_url)


def test_a_clean_day_loads_every_row_and_reconciles(endpoints: Endpoints, project: ProjectConfig) -> None:
    run_all(endpoints, project)

    wh = endpoints.warehouse
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE flight_date = '2013-01-01'") == REAL_ROWS
    assert scalar(wh, "SELECT count(*) FROM audit.rejected_records") == 0
    run = scalar(
        wh,
        "SELECT row(extracted, valid, rejected, loaded, status)::text FROM audit.load_runs WHERE pipeline = 'flights'",
    )
    assert run == f"({REAL_ROWS},{REAL_ROWS},0,{REAL_ROWS},success)"


def test_cancelled_flights_are_kept_and_flagged(endpoints: Endpoints, project: ProjectConfig) -> None:
    run_all(endpoints, project)

    cancelled = scalar(
        endpoints.require_source(),
        "SELECT count(*) FROM ops.flights WHERE year = 2013 AND month = 1 AND day = 1 AND dep_time IS NULL",
    )
    assert cancelled > 0
    assert (
        scalar(
            endpoints.warehouse,
            "SELECT count(*) FROM core.fact_flights WHERE is_cancelled AND status = 'cancelled' AND dep_ts IS NULL",
        )
        == cancelled
    )


def test_codes_missing_from_reference_data_map_to_the_unknown_member(
    endpoints: Endpoints, project: ProjectConfig
) -> None:
    run_all(endpoints, project)

    wh = endpoints.warehouse
    unknown_tails = scalar(
        wh,
        "SELECT count(*) FROM core.fact_flights f WHERE f.aircraft_key = -1 AND (f.tailnum IS NULL OR NOT EXISTS "
        "(SELECT 1 FROM core.dim_aircraft a WHERE a.tailnum = f.tailnum))",
    )
    assert unknown_tails == scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE aircraft_key = -1") > 0
    # Puerto Rico and the Virgin Islands are missing from the airports reference table.
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE dest = 'SJU' AND dest_airport_key <> -1") == 0
    assert scalar(wh, "SELECT faa FROM core.dim_airport WHERE airport_key = -1") == "UNKNOWN"


def test_bad_records_are_rejected_with_reasons_and_raw_payload(dirty: Endpoints, project: ProjectConfig) -> None:
    run_all(dirty, project)

    wh = dirty.warehouse
    with connect(wh) as conn, conn.cursor() as cur:
        cur.execute("SELECT stage, field, reason, raw FROM audit.rejected_records ORDER BY stage, field")
        rejected = cur.fetchall()
    by_field: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
        (str(stage), str(field)): (str(reason), dict(raw))  # type: ignore[call-overload]
        for stage, field, reason, raw in rejected
    }
    assert set(by_field) == {
        ("post_extract", "air_time"),
        ("post_extract", "carrier"),
        ("post_extract", "dep_time"),
        ("post_extract", "tailnum"),
        ("pre_load", "origin,carrier,flight,sched_dep_ts"),
    }
    assert by_field[("post_extract", "tailnum")][1]["tailnum"] == "N\uff11\uff12\uff13\u2708"
    assert by_field[("post_extract", "dep_time")][1]["dep_time"] == 2575
    assert by_field[("post_extract", "carrier")][1]["carrier"] == SQL_INJECTION
    assert "mph" in by_field[("post_extract", "air_time")][0]
    conflicting_reason, conflicting_raw = by_field[("pre_load", "origin,carrier,flight,sched_dep_ts")]
    assert "duplicate natural key with different values" in conflicting_reason
    assert conflicting_raw["tailnum"] == "N1ABC"
    # extracted = loaded + rejected + duplicates removed, and the injected SQL did nothing.
    assert scalar(
        wh, "SELECT row(extracted, loaded, rejected, duplicates)::text FROM audit.load_runs WHERE pipeline = 'flights'"
    ) == (f"({REAL_ROWS + 7},{REAL_ROWS + 1},5,1)")
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights") == REAL_ROWS + 1
    assert scalar(wh, "SELECT aircraft_key FROM core.fact_flights WHERE tailnum = 'N999ZZ'") == -1


def test_rerunning_a_partition_gives_the_same_warehouse(dirty: Endpoints, project: ProjectConfig) -> None:
    run_all(dirty, project)
    fact = table_checksum(dirty.warehouse, "core.fact_flights", "origin, carrier, flight, sched_dep_ts")
    rejects = table_checksum(dirty.warehouse, "audit.rejected_records", "stage, field, reason")

    run_all(dirty, project)

    assert table_checksum(dirty.warehouse, "core.fact_flights", "origin, carrier, flight, sched_dep_ts") == fact
    assert table_checksum(dirty.warehouse, "audit.rejected_records", "stage, field, reason") == rejects
    assert scalar(dirty.warehouse, "SELECT count(*) FROM audit.rejected_records") == 5


def test_a_partition_above_the_reject_threshold_is_not_loaded(dirty: Endpoints, project: ProjectConfig) -> None:
    strict = project.model_copy(
        update={"pipelines": {"flights": project.pipeline("flights").model_copy(update={"max_reject_share": 0.001})}}
    )
    load_reference(dirty.warehouse, strict)
    flights.extract(stage_context(strict, DAY, dirty))
    flights.transform(stage_context(strict, DAY, dirty))

    with pytest.raises(ReconciliationError, match="max_reject_share"):
        flights.load(stage_context(strict, DAY, dirty))

    assert scalar(dirty.warehouse, "SELECT count(*) FROM core.fact_flights") == 0


def test_a_failed_load_leaves_the_previous_partition_intact(endpoints: Endpoints, project: ProjectConfig) -> None:
    run_all(endpoints, project)
    before = table_checksum(endpoints.warehouse, "core.fact_flights", "origin, carrier, flight, sched_dep_ts")
    # Corrupt the clean staging table so that the insert fails half-way through the partition.
    with connect(endpoints.warehouse) as conn:
        conn.execute(
            "UPDATE staging.flights_clean_p20130101 SET status = 'lost' "
            "WHERE source_flight_id = (SELECT max(source_flight_id) FROM staging.flights_clean_p20130101)"
        )

    with pytest.raises(psycopg.errors.CheckViolation):
        flights.load(stage_context(project, DAY, endpoints))

    after = table_checksum(endpoints.warehouse, "core.fact_flights", "origin, carrier, flight, sched_dep_ts")
    assert after == before


def test_check_fails_the_run_when_counts_do_not_reconcile(endpoints: Endpoints, project: ProjectConfig) -> None:
    run_all(endpoints, project)
    with connect(endpoints.warehouse) as conn:
        conn.execute("DELETE FROM core.fact_flights WHERE ctid = (SELECT min(ctid) FROM core.fact_flights)")

    with pytest.raises(ReconciliationError, match=f"extracted {REAL_ROWS} != loaded {REAL_ROWS - 1}"):
        flights.check(stage_context(project, DAY, endpoints))

    assert scalar(endpoints.warehouse, "SELECT status FROM audit.load_runs WHERE pipeline = 'flights'") == "failed"


def test_staging_tables_are_keyed_by_partition(
    endpoints: Endpoints, project: ProjectConfig, warehouse_url: URL
) -> None:
    run_all(endpoints, project)

    tables = scalar(
        warehouse_url,
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'staging'",
    )
    assert tables == "flights_clean_p20130101,flights_raw_p20130101"


def test_clearing_only_the_load_task_reloads_the_same_partition(dirty: Endpoints, project: ProjectConfig) -> None:
    run_all(dirty, project)
    fact = table_checksum(dirty.warehouse, "core.fact_flights", "origin, carrier, flight, sched_dep_ts")

    flights.load(stage_context(project, DAY, dirty))
    flights.check(stage_context(project, DAY, dirty))

    assert table_checksum(dirty.warehouse, "core.fact_flights", "origin, carrier, flight, sched_dep_ts") == fact
    assert scalar(dirty.warehouse, "SELECT count(*) FROM audit.rejected_records WHERE stage = 'pre_load'") == 1


def test_load_refuses_staging_that_no_longer_matches_the_extract(endpoints: Endpoints, project: ProjectConfig) -> None:
    run_all(endpoints, project)
    before = table_checksum(endpoints.warehouse, "core.fact_flights", "origin, carrier, flight, sched_dep_ts")
    # What a PostgreSQL crash does to an UNLOGGED staging table.
    with connect(endpoints.warehouse) as conn:
        conn.execute("TRUNCATE staging.flights_clean_p20130101")

    with pytest.raises(PermanentPipelineError, match="clear the run from the extract task"):
        flights.load(stage_context(project, DAY, endpoints))

    assert table_checksum(endpoints.warehouse, "core.fact_flights", "origin, carrier, flight, sched_dep_ts") == before


def test_check_counts_key_problems_only_where_no_primary_key_rules_them_out(
    endpoints: Endpoints, project: ProjectConfig
) -> None:
    ensure_warehouse(endpoints.warehouse, project.staging_schema)
    with connect(endpoints.warehouse) as conn:
        assert primary_key_is(conn, "core.fact_flights", ["origin", "carrier", "flight", "sched_dep_ts"])
        assert not primary_key_is(conn, "core.fact_flights", ["origin", "carrier", "flight"])
        # A target without a primary key: the check must count what the database does not prevent.
        conn.execute("CREATE TABLE staging.keyless (k text, d date)")
        conn.execute(
            "INSERT INTO staging.keyless VALUES ('a', '2013-01-01'), ('a', '2013-01-01'), (NULL, '2013-01-01')"
        )
        assert not primary_key_is(conn, "staging.keyless", ["k"])
        window = sql.SQL("{} >= %s AND {} < %s").format(sql.Identifier("d"), sql.Identifier("d"))
        problems = count_key_problems(
            conn, sql.Identifier("staging", "keyless"), ["k"], window, (dt.date(2013, 1, 1), dt.date(2013, 1, 2))
        )
    assert problems == (1, 1)


def row_versions(url: URL) -> dict[tuple[Any, ...], str]:
    """Each fact row's writing transaction (xmin), by natural key: a rewritten row gets a new one."""
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT origin, carrier, flight, sched_dep_ts, xmin::text FROM core.fact_flights")
        return {tuple(row[:4]): str(row[4]) for row in cur.fetchall()}


def test_a_reload_writes_only_the_rows_that_changed(endpoints: Endpoints, project: ProjectConfig) -> None:
    run_all(endpoints, project)
    first = row_versions(endpoints.warehouse)
    before = table_checksum(endpoints.warehouse, "core.fact_flights", "origin, carrier, flight, sched_dep_ts")

    flights.load(stage_context(project, DAY, endpoints))  # unchanged staging: nothing to write
    assert row_versions(endpoints.warehouse) == first
    assert table_checksum(endpoints.warehouse, "core.fact_flights", "origin, carrier, flight, sched_dep_ts") == before

    with connect(endpoints.warehouse) as conn:
        conn.execute(
            "UPDATE staging.flights_clean_p20130101 SET dep_delay_min = dep_delay_min + 1 "
            "WHERE source_flight_id = (SELECT min(source_flight_id) FROM staging.flights_clean_p20130101)"
        )
    assert flights.load(stage_context(project, DAY, endpoints)) == REAL_ROWS

    after = row_versions(endpoints.warehouse)
    assert len(after) == REAL_ROWS
    assert sum(after[key] != first[key] for key in first) == 1
    flights.check(stage_context(project, DAY, endpoints))
