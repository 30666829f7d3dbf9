"""flights_daily emits core.fact_flights with the day it replaced; the marts DAG rebuilds that day (dag.test)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.asset import AssetEvent, AssetModel
from airflow.utils.session import create_session
from sqlalchemy import select

from flightdeck.core.paths import PROJECT_ROOT
from flightdeck.core.stage import Endpoints
from flightdeck.marts.daily_route_performance import TriggerEvent, affected_days
from flightdeck_operators.assets import FACT_FLIGHTS
from flightdeck_tools.cli import main
from tests.support import scalar, table_checksum

MART_ORDER = "flight_date, origin, dest, carrier"


def marts_dag() -> Any:
    bag = DagBag(dag_folder=PROJECT_ROOT / "dags" / "marts.py")
    assert bag.import_errors == {}
    return bag.dags["marts"]


def fact_flights_events() -> list[dict[str, Any]]:
    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.extra, AssetEvent.source_dag_id, AssetEvent.source_task_id)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == FACT_FLIGHTS.uri)
            .order_by(AssetEvent.id)
        ).all()
    return [{"extra": dict(extra or {}), "dag": dag_id, "task": task_id} for extra, dag_id, task_id in rows]


def test_a_flights_day_emits_its_partition_and_the_mart_rebuilds_it(
    e2e: Endpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = len(fact_flights_events())
    assert main(["run", "flights_daily", "--date", "2013-01-01"]) == 0
    assert "flights_daily 2013-01-01: success" in capsys.readouterr().out

    # The load task's asset event names the day it replaced, which is what the marts DAG reads.
    new = fact_flights_events()[seen:]
    assert new == [
        {
            "extra": {"partition_start": "2013-01-01", "partition_end": "2013-01-02"},
            "dag": "flights_daily",
            "task": "load",
        }
    ]
    events = [TriggerEvent(FACT_FLIGHTS.uri, "flights_daily", event["extra"]) for event in new]
    assert affected_days(events) == [dt.date(2013, 1, 1)]

    # The scheduler would start marts on that event; here a manual run with the same day as conf.
    dag = marts_dag()
    run = dag.test(run_conf={"start": "2013-01-01", "end": "2013-01-01"})
    assert str(run.state) == "success"

    wh = e2e.warehouse
    direct = scalar(
        wh,
        "SELECT row(count(*), count(*) FILTER (WHERE is_cancelled), count(DISTINCT (origin, dest, carrier)))::text "
        "FROM core.fact_flights WHERE flight_date = '2013-01-01'",
    )
    mart = scalar(wh, "SELECT row(sum(flights), sum(cancelled), count(*))::text FROM marts.daily_route_performance")
    assert mart == direct
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights") > 800
    # No weather was loaded: the mart still builds, with no observations joined.
    assert scalar(wh, "SELECT sum(with_weather) FROM marts.daily_route_performance") == 0
    before = table_checksum(wh, "marts.daily_route_performance", MART_ORDER)

    rerun = dag.test(run_conf={"start": "2013-01-01", "end": "2013-01-01"})
    assert str(rerun.state) == "success"
    assert table_checksum(wh, "marts.daily_route_performance", MART_ORDER) == before


def test_a_manual_run_with_a_bad_conf_fails_at_once(e2e: Endpoints) -> None:
    run = marts_dag().test(run_conf={"start": "2013-01-02", "end": "2013-01-01"})
    assert str(run.state) == "failed"
    # Refused before it touched the warehouse: the mart holds nothing.
    assert scalar(e2e.warehouse, "SELECT count(*) FROM marts.daily_route_performance") == 0
