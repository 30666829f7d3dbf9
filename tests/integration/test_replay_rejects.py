"""Dead-letter replay: after a fix, a day's rejected records that now pass are loaded, once."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig, ensure_warehouse
from flightdeck.core.db import connect
from flightdeck.core.errors import PermanentPipelineError, ReconciliationError
from flightdeck.core.partition import Partition
from flightdeck.core.stage import Endpoints
from flightdeck.sources.flights.replay import ReplayResult, replay_rejects
from tests.support import load_reference, run_flights_day, scalar, table_checksum

DAY = dt.date(2013, 1, 1)
PARTITION = Partition("flights", DAY, DAY + dt.timedelta(days=1), "flights_daily", "scheduled__2013-01-01")
KEY_ORDER = "origin, carrier, flight, sched_dep_ts"


@pytest.fixture
def loaded_dirty_day(dirty_source: URL, warehouse_url: URL, project: ProjectConfig) -> Endpoints:
    endpoints = Endpoints(source=dirty_source, warehouse=warehouse_url)
    load_reference(endpoints.warehouse, project)
    run_flights_day(endpoints, project, PARTITION)
    return endpoints


def fix_rejected_air_time(url: URL) -> None:
    """What an engineer does after checking the source: correct the payload in the error table."""
    with connect(url) as conn:
        conn.execute(
            "UPDATE audit.rejected_records SET raw = jsonb_set(raw, '{air_time}', '227') "
            "WHERE stage = 'post_extract' AND field = 'air_time'"
        )


def test_a_fixed_record_is_loaded_through_the_normal_path_and_counts_still_reconcile(
    loaded_dirty_day: Endpoints, project: ProjectConfig
) -> None:
    wh = loaded_dirty_day.warehouse
    before = int(scalar(wh, "SELECT count(*) FROM core.fact_flights"))
    fix_rejected_air_time(wh)

    result = replay_rejects(project.pipeline("flights"), loaded_dirty_day, project.staging_schema, DAY)

    assert (result.replayed, result.still_rejected) == (1, 3)
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights") == before + 1
    assert scalar(wh, "SELECT air_time_min FROM core.fact_flights WHERE flight = 9003") == 227
    assert scalar(wh, "SELECT count(*) FROM audit.rejected_records WHERE replayed_at IS NOT NULL") == 1
    # The check ran again: extracted = loaded + rejected (standing) + duplicates removed.
    assert (
        scalar(wh, "SELECT row(status, loaded, rejected)::text FROM audit.load_runs WHERE pipeline = 'flights'")
        == f"(success,{before + 1},4)"
    )


def test_replaying_twice_changes_nothing(loaded_dirty_day: Endpoints, project: ProjectConfig) -> None:
    fix_rejected_air_time(loaded_dirty_day.warehouse)
    replay_rejects(project.pipeline("flights"), loaded_dirty_day, project.staging_schema, DAY)
    fact = table_checksum(loaded_dirty_day.warehouse, "core.fact_flights", KEY_ORDER)

    again = replay_rejects(project.pipeline("flights"), loaded_dirty_day, project.staging_schema, DAY)

    assert (again.replayed, again.still_rejected) == (0, 3)
    assert table_checksum(loaded_dirty_day.warehouse, "core.fact_flights", KEY_ORDER) == fact


def test_without_a_fix_nothing_is_replayed(loaded_dirty_day: Endpoints, project: ProjectConfig) -> None:
    fact = table_checksum(loaded_dirty_day.warehouse, "core.fact_flights", KEY_ORDER)

    result = replay_rejects(project.pipeline("flights"), loaded_dirty_day, project.staging_schema, DAY)

    assert (result.replayed, result.still_rejected) == (0, 4)
    assert table_checksum(loaded_dirty_day.warehouse, "core.fact_flights", KEY_ORDER) == fact


def test_a_day_that_never_ran_cannot_be_replayed(endpoints: Endpoints, project: ProjectConfig) -> None:
    ensure_warehouse(endpoints.warehouse, project.staging_schema)

    with pytest.raises(PermanentPipelineError, match="run the DAG for that day first"):
        replay_rejects(project.pipeline("flights"), endpoints, project.staging_schema, DAY)


def test_a_replay_whose_load_fails_leaves_the_records_rejected_for_the_next_replay(
    loaded_dirty_day: Endpoints, project: ProjectConfig
) -> None:
    wh = loaded_dirty_day.warehouse
    fix_rejected_air_time(wh)
    fact = table_checksum(wh, "core.fact_flights", KEY_ORDER)
    staged = scalar(wh, "SELECT count(*) FROM staging.flights_clean_p20130101")
    # A threshold the day's standing rejections exceed: the replay's load refuses the partition.
    strict = project.model_copy(
        update={"pipelines": {"flights": project.pipeline("flights").model_copy(update={"max_reject_share": 0.0001})}}
    )

    with pytest.raises(ReconciliationError, match="max_reject_share"):
        replay_rejects(strict.pipeline("flights"), loaded_dirty_day, strict.staging_schema, DAY)

    # Loaded and marked together, or neither: nothing is marked, staged or loaded.
    assert scalar(wh, "SELECT count(*) FROM audit.rejected_records WHERE replayed_at IS NOT NULL") == 0
    assert scalar(wh, "SELECT count(*) FROM staging.flights_clean_p20130101") == staged
    assert table_checksum(wh, "core.fact_flights", KEY_ORDER) == fact

    result = replay_rejects(project.pipeline("flights"), loaded_dirty_day, project.staging_schema, DAY)

    assert (result.replayed, result.still_rejected) == (1, 3)
    loaded = scalar(wh, "SELECT loaded FROM audit.load_runs WHERE pipeline = 'flights'")
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights") == loaded
    assert scalar(wh, "SELECT status FROM audit.load_runs WHERE pipeline = 'flights'") == "success"


def replay(endpoints: Endpoints, project: ProjectConfig, from_source: bool = False) -> ReplayResult:
    if from_source:
        return replay_rejects(project.pipeline("flights"), endpoints, project.staging_schema, DAY, from_source=True)
    return replay_rejects(project.pipeline("flights"), endpoints, project.staging_schema, DAY)


def fix_in_source(source: URL, flight: int, assignments: str) -> None:
    """An engineer's fix in the source system: the injected row takes the real template row's values."""
    with connect(source) as conn:
        conn.execute(
            f"UPDATE ops.flights f SET {assignments} FROM ops.flights t "  # test-owned constants
            "WHERE f.flight = %s AND t.flight_id = (SELECT min(flight_id) FROM ops.flights)".encode(),
            (flight,),
        )


def true_run_counts(wh: URL) -> dict[str, Any]:
    """The run's audit row, asserted against what the warehouse holds: every count true and reconciled."""
    with connect(wh) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT extracted, valid, rejected, loaded, duplicates, status FROM audit.load_runs "
            "WHERE pipeline = 'flights' AND partition_date = %s",
            (DAY,),
        )
        rows = cur.fetchall()
    assert len(rows) == 1
    extracted, valid, rejected, loaded, duplicates = (int(str(value)) for value in rows[0][:5])
    status = rows[0][5]
    assert status == "success"
    assert valid == scalar(wh, "SELECT count(*) FROM staging.flights_clean_p20130101")
    assert rejected == scalar(wh, "SELECT count(*) FROM audit.rejected_records WHERE replayed_at IS NULL")
    assert loaded == scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE flight_date = %s", (DAY,))
    assert extracted == loaded + rejected + duplicates
    open_before_load = scalar(
        wh,
        "SELECT count(*) FROM audit.rejected_records WHERE stage IN ('post_extract', 'post_transform') "
        "AND replayed_at IS NULL",
    )
    assert extracted == valid + open_before_load
    return {"extracted": extracted, "valid": valid, "rejected": rejected, "loaded": loaded, "duplicates": duplicates}


def stored(wh: URL, flight: int) -> tuple[str, str, str, dict[str, Any]]:
    with connect(wh) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT stage, field, reason, raw FROM audit.rejected_records WHERE (raw ->> 'flight')::int = %s",
            (flight,),
        )
        rows = cur.fetchall()
    assert len(rows) == 1
    stage, field, reason, raw = rows[0]
    return str(stage), str(field), str(reason), cast("dict[str, Any]", raw)


def test_after_a_plain_replay_every_count_of_the_run_row_is_true(
    loaded_dirty_day: Endpoints, project: ProjectConfig
) -> None:
    before = true_run_counts(loaded_dirty_day.warehouse)
    fix_rejected_air_time(loaded_dirty_day.warehouse)

    replay(loaded_dirty_day, project)

    after = true_run_counts(loaded_dirty_day.warehouse)
    assert after == {
        **before,
        "valid": before["valid"] + 1,
        "rejected": before["rejected"] - 1,
        "loaded": before["loaded"] + 1,
    }


def test_a_plain_replay_says_that_a_source_fix_needs_a_replay_from_the_source_or_a_rerun(
    loaded_dirty_day: Endpoints, project: ProjectConfig
) -> None:
    fix_in_source(loaded_dirty_day.require_source(), 9003, "air_time = t.air_time")

    result = replay(loaded_dirty_day, project)

    assert (result.replayed, result.still_rejected) == (0, 4)
    summary = result.summary("flights_daily", DAY)
    assert summary.startswith("flights_daily 2013-01-01: 0 replayed and loaded, 4 still rejected\n")
    assert "--from-source" in summary
    assert "etl run flights_daily --date 2013-01-01" in summary


def test_a_record_fixed_in_the_source_is_loaded_by_a_replay_from_the_source_as_a_rerun_would_load_it(
    loaded_dirty_day: Endpoints, project: ProjectConfig
) -> None:
    wh = loaded_dirty_day.warehouse
    before = true_run_counts(wh)
    fix_in_source(loaded_dirty_day.require_source(), 9003, "air_time = t.air_time")

    result = replay(loaded_dirty_day, project, from_source=True)

    assert (result.replayed, result.still_rejected, result.gone_from_source) == (1, 3, 0)
    assert result.summary("flights_daily", DAY) == "flights_daily 2013-01-01: 1 replayed and loaded, 3 still rejected"
    real_air_time = scalar(
        loaded_dirty_day.require_source(),
        "SELECT air_time FROM ops.flights WHERE flight_id = (SELECT min(flight_id) FROM ops.flights)",
    )
    assert scalar(wh, "SELECT air_time_min FROM core.fact_flights WHERE flight = 9003") == real_air_time
    replayed = true_run_counts(wh)
    assert replayed == {
        **before,
        "valid": before["valid"] + 1,
        "rejected": before["rejected"] - 1,
        "loaded": before["loaded"] + 1,
    }
    assert scalar(wh, "SELECT count(*) FROM audit.rejected_records WHERE replayed_at IS NOT NULL") == 1
    fact = table_checksum(wh, "core.fact_flights", KEY_ORDER)

    # A clean rerun of the day reads the fixed source: the same facts and the same counts.
    run_flights_day(loaded_dirty_day, project, PARTITION)

    assert table_checksum(wh, "core.fact_flights", KEY_ORDER) == fact
    assert true_run_counts(wh) == replayed


def test_a_record_still_bad_in_the_source_stays_rejected_as_the_source_holds_it_now(
    loaded_dirty_day: Endpoints, project: ProjectConfig
) -> None:
    wh = loaded_dirty_day.warehouse
    before = true_run_counts(wh)
    source = loaded_dirty_day.require_source()
    fix_in_source(source, 9001, "dep_time = 2590")  # still not a clock time
    fix_in_source(source, 9002, "carrier = t.carrier, air_time = 4")  # carrier fixed, a new fault

    result = replay(loaded_dirty_day, project, from_source=True)

    assert (result.replayed, result.still_rejected) == (0, 4)
    stage, field, reason, raw = stored(wh, 9001)
    assert (stage, field, raw["dep_time"]) == ("post_extract", "dep_time", 2590)
    assert reason == "dep_time: Input should be less than or equal to 2400"
    stage, field, reason, raw = stored(wh, 9002)
    assert (field, raw["air_time"], raw["carrier"]) == ("air_time", 4, "UA")
    assert true_run_counts(wh) == before


def test_replaying_from_the_source_twice_changes_nothing(loaded_dirty_day: Endpoints, project: ProjectConfig) -> None:
    wh = loaded_dirty_day.warehouse
    source = loaded_dirty_day.require_source()
    fix_in_source(source, 9003, "air_time = t.air_time")
    fix_in_source(source, 9001, "dep_time = 2590")
    replay(loaded_dirty_day, project, from_source=True)
    fact = table_checksum(wh, "core.fact_flights", KEY_ORDER)
    rejections = table_checksum(wh, "audit.rejected_records", "raw::text")
    counts = true_run_counts(wh)

    again = replay(loaded_dirty_day, project, from_source=True)

    assert (again.replayed, again.still_rejected) == (0, 3)
    assert table_checksum(wh, "core.fact_flights", KEY_ORDER) == fact
    assert table_checksum(wh, "audit.rejected_records", "raw::text") == rejections
    assert true_run_counts(wh) == counts


def test_a_record_deleted_from_the_source_stays_rejected_saying_so(
    loaded_dirty_day: Endpoints, project: ProjectConfig
) -> None:
    wh = loaded_dirty_day.warehouse
    before = true_run_counts(wh)
    fact = table_checksum(wh, "core.fact_flights", KEY_ORDER)
    with connect(loaded_dirty_day.require_source()) as conn:
        conn.execute("DELETE FROM ops.flights WHERE flight = 9001")

    result = replay(loaded_dirty_day, project, from_source=True)

    assert (result.replayed, result.still_rejected, result.gone_from_source) == (0, 4, 1)
    assert result.summary("flights_daily", DAY) == (
        "flights_daily 2013-01-01: 0 replayed and loaded, 4 still rejected (1 no longer in the source: kept rejected)"
    )
    stage, field, reason, raw = stored(wh, 9001)
    assert (stage, field, raw["dep_time"]) == ("post_extract", "flight_id", 2575)
    assert reason.startswith("no longer in the source for 2013-01-01")
    assert table_checksum(wh, "core.fact_flights", KEY_ORDER) == fact
    assert true_run_counts(wh) == before
