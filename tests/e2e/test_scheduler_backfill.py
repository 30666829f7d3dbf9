"""A real Airflow 3 (api-server, scheduler, dag-processor, triggerer) executing `airflow backfill create`.

Each backfilled day lands exactly once; a second backfill that reprocesses the same days leaves
the warehouse identical. This is the path `make airflow` + `make backfill` takes.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightdeck.core.stage import Endpoints
from flightdeck_tools.cli import run_metadata_write, scheduler_backfill_args
from tests.support import scalar, table_checksum

pytestmark = pytest.mark.slow

DAG_ID = "flights_daily"
DAYS = ("2013-02-01", "2013-02-02")
START_TIMEOUT_S = 180
RUN_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: str, check: object, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(2)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    raise AssertionError(f"timed out waiting for {condition}; last lines of airflow standalone:\n{tail}")


class Airflow:
    def __init__(self, home: Path, env: dict[str, str], log: Path) -> None:
        self.home, self.env, self.log = home, env, log

    def metadata(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.home / "airflow.db", timeout=30) as db:
            return db.execute(query, params).fetchall()

    def cli(self, *args: str) -> str:
        # The local metadata database is SQLite: while the scheduler writes, a CLI write may find it
        # locked. Retried as `etl backfill --scheduler` retries it.
        result = run_metadata_write([sys.executable, "-m", "airflow", *args], env=self.env)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    def backfill_runs(self) -> dict[str, tuple[str, str]]:
        rows = self.metadata(
            "SELECT logical_date, state, end_date FROM dag_run WHERE dag_id = ? AND run_type = 'backfill'", (DAG_ID,)
        )
        return {str(day)[:10]: (str(state), str(end)) for day, state, end in rows}


def pause_other_dags(metadata: Path) -> None:
    """DAGs earlier tests registered keep their state: pause all but the one under test."""
    if not metadata.exists():
        return
    with sqlite3.connect(metadata, timeout=30) as db:
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dag'").fetchone():
            db.execute("UPDATE dag SET is_paused = 1 WHERE dag_id <> ?", (DAG_ID,))


@pytest.fixture
def airflow(e2e: Endpoints, tmp_path: Path) -> Iterator[Airflow]:
    home = Path(os.environ["AIRFLOW_HOME"])
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # Only flights_daily may run here: a scheduled reference_data run re-points the facts' keys
            # (resolve_fact_keys), which would change the warehouse between the two checksums.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        }
    )
    pause_other_dags(home / "airflow.db")
    log = tmp_path / "standalone.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    handle = Airflow(home, env, log)
    try:

        def api_up() -> bool:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/api/v2/monitor/health", timeout=5) as response:
                    return response.status == 200
            except OSError:
                return False

        def dag_parsed() -> bool:
            try:
                return bool(handle.metadata("SELECT 1 FROM serialized_dag WHERE dag_id = ?", (DAG_ID,)))
            except sqlite3.Error:
                return False

        wait_for("the api-server", api_up, START_TIMEOUT_S, log)
        wait_for("the dag-processor to parse flights_daily", dag_parsed, START_TIMEOUT_S, log)
        handle.cli("dags", "unpause", DAG_ID)
        yield handle
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def backfill_and_wait(airflow: Airflow, after: dict[str, tuple[str, str]] | None = None) -> None:
    first, last = (dt.date.fromisoformat(day) for day in (DAYS[0], DAYS[-1]))
    airflow.cli(*scheduler_backfill_args(DAG_ID, first, last, zone="America/New_York"))

    def finished() -> bool:
        runs = airflow.backfill_runs()
        if sorted(runs) != sorted(DAYS):
            return False
        states = {day: state for day, (state, _) in runs.items()}
        if any(state == "failed" for state in states.values()):
            raise AssertionError(f"backfill runs failed: {runs}")
        fresh = after is None or all(runs[day][1] != after[day][1] for day in DAYS)
        # The scheduler closes a backfill after its runs finish; only one may be open per DAG.
        open_backfills = airflow.metadata(
            "SELECT count(*) FROM backfill WHERE dag_id = ? AND completed_at IS NULL", (DAG_ID,)
        )[0][0]
        return fresh and open_backfills == 0 and all(state == "success" for state in states.values())

    wait_for(f"backfill of {DAYS} to succeed", finished, RUN_TIMEOUT_S, airflow.log)


def test_a_scheduler_backfill_loads_each_day_once_and_reprocessing_changes_nothing(
    airflow: Airflow, e2e: Endpoints
) -> None:
    backfill_and_wait(airflow)

    wh = e2e.warehouse
    for day in DAYS:
        expected = scalar(
            e2e.require_source(),
            "SELECT count(*) FROM ops.flights WHERE make_date(year, month, day) = %s::date",
            (day,),
        )
        assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE flight_date = %s::date", (day,)) == expected
    assert scalar(wh, "SELECT count(DISTINCT flight_date) FROM core.fact_flights") == len(DAYS)
    checksum = table_checksum(wh, "core.fact_flights", "origin, carrier, flight, sched_dep_ts")

    backfill_and_wait(airflow, after=airflow.backfill_runs())

    assert table_checksum(wh, "core.fact_flights", "origin, carrier, flight, sched_dep_ts") == checksum
    statuses = scalar(
        wh,
        "SELECT string_agg(DISTINCT status, ',') FROM audit.load_runs "
        "WHERE partition_date IN ('2013-02-01', '2013-02-02')",
    )
    assert statuses == "success"
