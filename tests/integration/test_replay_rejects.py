"""Dead-letter replay: after a fix, a day's rejected records that now pass are loaded, once."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig, ensure_warehouse
from flightdeck.core.db import connect
from flightdeck.core.errors import PermanentPipelineError, ReconciliationError
from flightdeck.core.partition import Partition
from flightdeck.core.stage import Endpoints
from flightdeck.sources.flights.replay import replay_rejects
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
