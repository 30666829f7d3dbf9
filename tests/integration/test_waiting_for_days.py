"""A day the source has not delivered yet is a wait, bounded in time, that says what it waits for.

The DAGs' first task, PartitionReadySensor, asks the pipeline's `ready` check (reschedule mode in
the DAGs: the worker is freed between looks). Real PostgreSQL and the real weather replay service.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from flightdeck.catalog import ProjectConfig, project_config
from flightdeck.core.errors import TransientPipelineError
from flightdeck.core.partition import day_partition
from flightdeck.core.paths import PROJECT_ROOT
from flightdeck.core.stage import Endpoints
from flightdeck.sources.flights import extract as flights
from flightdeck.sources.weather import extract as weather
from flightdeck_operators import PartitionReadySensor
from tests.conftest import PgServer
from tests.support import scalar, stage_context

DELIVERED = dt.date(2013, 1, 1)
NOT_DELIVERED = dt.date(2014, 6, 1)


def run_context(day: dt.date, dag_id: str) -> dict[str, Any]:
    start = pendulum.datetime(day.year, day.month, day.day, tz="America/New_York")
    return {
        "data_interval_start": start,
        "data_interval_end": start.add(days=1),
        "dag": SimpleNamespace(dag_id=dag_id),
        "run_id": f"scheduled__{day}",
    }


def test_a_flights_day_without_source_rows_is_waited_for_and_a_delivered_one_is_not(
    endpoints: Endpoints, project: ProjectConfig
) -> None:
    waiting = flights.waiting_for(stage_context(project, day_partition("flights", NOT_DELIVERED), endpoints))

    assert waiting == "ops.flights to deliver the rows of 2014-06-01 (it holds none yet)"
    assert flights.waiting_for(stage_context(project, day_partition("flights", DELIVERED), endpoints)) is None


def test_a_pipeline_that_allows_empty_days_never_waits(endpoints: Endpoints, project: ProjectConfig) -> None:
    lenient = project.pipeline("flights").model_copy(update={"allow_empty_partitions": True})
    settings = project.model_copy(update={"pipelines": {**project.pipelines, "flights": lenient}})

    assert flights.waiting_for(stage_context(settings, day_partition("flights", NOT_DELIVERED), endpoints)) is None


def test_a_weather_day_after_the_archive_is_waited_for(
    warehouse_url: Any, project: ProjectConfig, weather_api: int
) -> None:
    later = stage_context(project, day_partition("weather", dt.date(2014, 1, 5)), warehouse_url)

    assert weather.waiting_for(later) == "the weather archive to cover 2014-01-05 (it ends on 2014-01-01)"
    assert weather.waiting_for(stage_context(project, day_partition("weather", DELIVERED), warehouse_url)) is None


def test_the_sensor_passes_a_delivered_day(airflow_connections: Endpoints) -> None:
    sensor = PartitionReadySensor(task_id="wait_for_source", pipeline="flights", mode="poke", timeout=0)

    sensor.execute(run_context(DELIVERED, "flights_daily"))


def test_the_sensor_gives_up_after_its_timeout_saying_what_it_waited_for(airflow_connections: Endpoints) -> None:
    sensor = PartitionReadySensor(
        task_id="wait_for_source", pipeline="flights", mode="poke", timeout=0, poke_interval=1
    )

    with pytest.raises(AirflowSensorTimeout) as raised:
        sensor.execute(run_context(NOT_DELIVERED, "flights_daily"))

    assert str(raised.value).startswith(
        "gave up waiting for ops.flights to deliver the rows of 2014-06-01 (it holds none yet) after the "
        "configured 0 s (flights.wait.timeout_s)"
    )


def test_a_check_that_no_wait_can_fix_fails_at_once(
    pg_server: PgServer, warehouse_url: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    misspelt = warehouse_url.set(database="nonexistent_db")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", pg_server.connection_json(warehouse_url))
    monkeypatch.setenv("AIRFLOW_CONN_FLIGHTS_SOURCE", pg_server.connection_json(misspelt))
    sensor = PartitionReadySensor(task_id="wait_for_source", pipeline="flights", mode="poke", timeout=3600)

    with pytest.raises(AirflowFailException, match='database "nonexistent_db" does not exist'):
        sensor.execute(run_context(DELIVERED, "flights_daily"))


def test_a_wait_that_times_out_leaves_the_run_failed_with_what_it_waited_for(
    airflow_connections: Endpoints, warehouse_url: Any
) -> None:
    sensor = PartitionReadySensor(task_id="wait_for_source", pipeline="flights", mode="poke", timeout=0)

    with pytest.raises(AirflowSensorTimeout):
        sensor.execute(run_context(NOT_DELIVERED, "flights_daily"))

    status, error = scalar(
        warehouse_url, "SELECT array[status, error] FROM audit.load_runs WHERE partition_date = '2014-06-01'"
    )
    assert status == "failed"
    assert error.startswith("AirflowSensorTimeout: gave up waiting for ops.flights to deliver the rows of 2014-06-01")


def test_an_unreachable_source_is_no_wait_but_a_transient_error_for_the_tasks_retries(
    airflow_connections: Endpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "config" / "pipelines.yaml").read_text(encoding="utf-8"))
    config["weather"]["retry"] = {**config["weather"]["retry"], "attempts": 1, "max_total_s": 1.0}
    (tmp_path / "pipelines.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("FLIGHTDECK_CONFIG", str(tmp_path / "pipelines.yaml"))
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_WEATHER_API", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": dead_port})
    )
    project_config.cache_clear()
    try:
        sensor = PartitionReadySensor(task_id="wait_for_archive", pipeline="weather", mode="poke", timeout=3600)
        with pytest.raises(TransientPipelineError, match="connection failed"):
            sensor.execute(run_context(DELIVERED, "weather_hourly"))
    finally:
        project_config.cache_clear()
