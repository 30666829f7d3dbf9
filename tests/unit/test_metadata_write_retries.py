"""Airflow commands that write the SQLite metadata database: what is retried and what fails at once.

Each case runs a real child process that answers, try after try, as `airflow backfill create` would.
"""

from __future__ import annotations

import sys
from pathlib import Path

from flightdeck_tools.cli import run_metadata_write

LOCKED = "sqlite3.OperationalError: database is locked"
RUNNING = "airflow.models.backfill.AlreadyRunningBackfill: Another backfill is running for Dag flights_daily."


def scripted(tmp_path: Path, answers: list[tuple[int, str]]) -> list[str]:
    """A command whose n-th run exits with answers[n] (code, stderr); it counts its runs in a file."""
    counter = tmp_path / "runs"
    counter.write_text("0")
    script = (
        "import sys, pathlib\n"
        f"counter = pathlib.Path({str(counter)!r})\n"
        "n = int(counter.read_text())\n"
        "counter.write_text(str(n + 1))\n"
        f"answers = {answers!r}\n"
        "code, err = answers[min(n, len(answers) - 1)]\n"
        "print(f'run {n}')\n"
        "sys.stderr.write(err)\n"
        "sys.exit(code)\n"
    )
    return [sys.executable, "-c", script]


def runs(tmp_path: Path) -> int:
    return int((tmp_path / "runs").read_text())


def test_a_locked_database_is_retried_until_the_command_succeeds(tmp_path: Path) -> None:
    command = scripted(tmp_path, [(1, LOCKED), (1, LOCKED), (0, "")])

    result = run_metadata_write(command, pause_s=0)

    assert (result.returncode, result.stdout.strip(), runs(tmp_path)) == (0, "run 2", 3)


def test_after_a_locked_try_an_orphaned_backfill_is_waited_out(tmp_path: Path) -> None:
    # The locked try left its backfill open; retries are refused until the scheduler closes it.
    command = scripted(tmp_path, [(1, LOCKED), (1, RUNNING), (1, RUNNING), (0, "")])

    result = run_metadata_write(command, pause_s=0)

    assert (result.returncode, runs(tmp_path)) == (0, 4)


def test_waiting_for_an_orphaned_backfill_is_bounded_in_time(tmp_path: Path) -> None:
    command = scripted(tmp_path, [(1, LOCKED), (1, RUNNING)])

    result = run_metadata_write(command, pause_s=0.05, max_wait_s=0.5)

    assert result.returncode == 1
    assert "AlreadyRunningBackfill" in result.stderr
    assert 2 <= runs(tmp_path) < 80


def test_a_backfill_already_running_before_the_first_try_fails_at_once(tmp_path: Path) -> None:
    command = scripted(tmp_path, [(1, RUNNING), (0, "")])

    result = run_metadata_write(command, pause_s=0)

    assert (result.returncode, runs(tmp_path)) == (1, 1)
    assert "AlreadyRunningBackfill" in result.stderr


def test_any_other_error_fails_at_once(tmp_path: Path) -> None:
    command = scripted(tmp_path, [(1, "airflow.exceptions.DagNotFound: Could not find dag nope"), (0, "")])

    result = run_metadata_write(command, pause_s=0)

    assert (result.returncode, runs(tmp_path)) == (1, 1)


def test_retries_are_bounded(tmp_path: Path) -> None:
    command = scripted(tmp_path, [(1, LOCKED)])

    result = run_metadata_write(command, attempts=4, pause_s=0)

    assert (result.returncode, runs(tmp_path)) == (1, 4)
    assert "database is locked" in result.stderr
