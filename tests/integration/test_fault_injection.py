"""Faults injected into real PostgreSQL: whatever breaks, no partial partition is ever visible, and
the rerun's warehouse equals a clean run's."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import pytest
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig
from flightdeck.core.db import connect, dispose_engines
from flightdeck.core.errors import PermanentPipelineError, is_transient
from flightdeck.core.partition import day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.sources.flights import pipeline as flights
from tests.support import load_reference, run_flights_day, scalar, stage_context, table_checksum

DAY = day_partition("flights", dt.date(2013, 1, 1))
KEY_ORDER = "origin, carrier, flight, sched_dep_ts"


def direct(url: URL, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    """A connection outside the pipeline's pool, so the test never competes with the load for one."""
    return psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=autocommit)


def run_all(endpoints: Endpoints, project: ProjectConfig) -> None:
    load_reference(endpoints.warehouse, project)
    run_flights_day(endpoints, project, DAY)


def test_a_load_whose_connection_is_terminated_mid_way_leaves_the_old_partition(
    endpoints: Endpoints, project: ProjectConfig
) -> None:
    run_all(endpoints, project)
    clean = table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER)
    failure: list[BaseException] = []

    # A reader holding a lock makes the load wait inside its transaction, after it started the
    # partition replace; then the load's backend is terminated, as an admin or a failover would.
    with direct(endpoints.warehouse) as blocker:
        blocker.execute("LOCK TABLE core.fact_flights IN SHARE MODE")
        blocker.execute("SELECT count(*) FROM core.fact_flights")

        def load() -> None:
            try:
                flights.load(stage_context(project, DAY, endpoints))
            except BaseException as exc:
                failure.append(exc)

        worker = threading.Thread(target=load)
        with direct(endpoints.warehouse, autocommit=True) as watcher:
            worker.start()
            waiting = None
            for _ in range(100):
                row = watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                ).fetchone()
                if row:
                    waiting = row[0]
                    break
                time.sleep(0.1)
            assert waiting is not None, "the load never reached the partition replace"
            # Readers meanwhile see the old partition, complete.
            assert watcher.execute("SELECT count(*) FROM core.fact_flights").fetchone() == (842,)
            watcher.execute("SELECT pg_terminate_backend(%s)", (waiting,))
        worker.join(timeout=30)
    dispose_engines()

    assert failure, "the terminated load did not fail"
    assert is_transient(failure[0]), f"{type(failure[0]).__name__} should be retried"
    assert table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER) == clean

    # The retry (Airflow would rerun the task) gives the clean run's warehouse.
    flights.load(stage_context(project, DAY, endpoints))
    flights.check(stage_context(project, DAY, endpoints))
    assert table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER) == clean


def test_staging_lost_between_tasks_is_refused_and_a_rerun_repairs_it(
    endpoints: Endpoints, project: ProjectConfig
) -> None:
    run_all(endpoints, project)
    clean = table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER)
    # A crash restart empties UNLOGGED tables: the same state, produced directly.
    with connect(endpoints.warehouse) as conn:
        conn.execute("TRUNCATE staging.flights_raw_p20130101, staging.flights_clean_p20130101")

    flights.transform(stage_context(project, DAY, endpoints))  # finds nothing to transform
    with pytest.raises(PermanentPipelineError, match="clear the run from the extract task"):
        flights.load(stage_context(project, DAY, endpoints))
    assert table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER) == clean

    run_all(endpoints, project)
    assert table_checksum(endpoints.warehouse, "core.fact_flights", KEY_ORDER) == clean


def test_passwords_never_reach_errors_or_logs(
    warehouse_url,
    project: ProjectConfig,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    secret = "s3cr3t-Pa55word"
    nowhere = warehouse_url.set(host="127.0.0.1", port=1, password=secret)

    with pytest.raises(psycopg.OperationalError) as caught:
        flights.extract(stage_context(project, DAY, Endpoints(source=nowhere, warehouse=warehouse_url)))

    assert secret not in str(caught.value)
    assert secret not in caplog.text
    assert scalar(warehouse_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'core'") >= 1
