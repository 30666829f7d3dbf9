"""cli.py: the parser, and usage errors that print one line and exit non-zero (no database needed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightdeck.catalog import project_config
from flightdeck.core.paths import PROJECT_ROOT
from flightdeck_tools import cli


class TouchedTheEnvironment(BaseException):
    """Raised if a usage error gets as far as preparing Airflow or a database (main() must not catch it)."""


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise TouchedTheEnvironment("a usage error must be reported before any environment is prepared")

    monkeypatch.setattr(cli, "_prepare", refuse)
    monkeypatch.setattr(cli.devenv, "prepare", refuse)


def one_line(text: str) -> str:
    assert text.endswith("\n")
    assert text.count("\n") == 1, text
    assert "Traceback" not in text
    return text.rstrip("\n")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param([], "etl: error: the following arguments are required: COMMAND", id="no-command"),
        pytest.param(["frobnicate"], "etl: error: argument COMMAND: invalid choice: 'frobnicate'", id="unknown"),
        pytest.param(
            ["run", "flights_daily"], "etl run: error: the following arguments are required: --date", id="nodate"
        ),
        pytest.param(
            ["run", "flights_daily", "--date", "2013-13-01"],
            "etl run: error: argument --date: '2013-13-01' is not a date (YYYY-MM-DD)",
            id="month-13",
        ),
        pytest.param(
            ["run", "flights_daily", "--date", "2013-02-30"],
            "etl run: error: argument --date: '2013-02-30' is not a date (YYYY-MM-DD)",
            id="february-30",
        ),
        pytest.param(
            ["backfill", "flights_daily", "--start", "2013-13-01", "--end", "2013-01-02"],
            "etl backfill: error: argument --start: '2013-13-01' is not a date (YYYY-MM-DD)",
            id="backfill-bad-start",
        ),
        pytest.param(
            ["backfill", "flights_daily", "--start", "2013-01-01"],
            "etl backfill: error: the following arguments are required: --end",
            id="backfill-no-end",
        ),
        pytest.param(
            ["status", "--limit", "many"],
            "etl status: error: argument --limit: 'many' is not a whole number",
            id="limit",
        ),
        pytest.param(["seed", "--fast"], "etl: error: unrecognized arguments: --fast", id="unknown-option"),
    ],
)
def test_a_usage_error_exits_2_with_one_line_on_stderr(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)

    assert raised.value.code == cli.EXIT_USAGE == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = one_line(captured.err)
    assert line.startswith(expected)
    assert line.endswith("--help)")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            ["backfill", "flights_daily", "--start", "2013-01-02", "--end", "2013-01-01"],
            "etl: error: --end 2013-01-01 is before --start 2013-01-02",
            id="end-before-start",
        ),
        pytest.param(["airflow"], "etl: error: give an airflow command, e.g. `etl airflow standalone`", id="airflow"),
        pytest.param(
            ["airflow", "--"], "etl: error: give an airflow command, e.g. `etl airflow standalone`", id="airflow-dashes"
        ),
    ],
)
def test_a_command_error_returns_1_with_one_line_on_stderr(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert cli.main(argv) == cli.EXIT_FAILED == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line(captured.err) == expected


def test_an_unexpected_exception_is_one_line_with_its_type(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("boom\nwith details on a second line")

    monkeypatch.setattr(cli, "_dispatch", broken)

    assert cli.main(["demo"]) == cli.EXIT_FAILED
    assert one_line(capsys.readouterr().err) == "etl: error: RuntimeError: boom"


def test_an_interrupt_exits_130(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_dispatch", interrupted)

    assert cli.main(["demo"]) == 130
    assert one_line(capsys.readouterr().err) == "etl: interrupted"


def test_backfill_dates_are_parsed_as_dates() -> None:
    args = cli.build_parser().parse_args(["backfill", "flights_daily", "--start", "2013-01-01", "--end", "2013-01-31"])

    assert (args.command, args.dag_id) == ("backfill", "flights_daily")
    assert (args.start, args.end) == (dt.date(2013, 1, 1), dt.date(2013, 1, 31))


def test_status_shows_twenty_runs_unless_told_otherwise() -> None:
    parser = cli.build_parser()

    assert parser.parse_args(["status"]).limit == 20
    assert parser.parse_args(["status", "--limit", "5"]).limit == 5


def test_replay_rejects_re_checks_the_stored_copies_unless_told_to_read_the_source() -> None:
    parser = cli.build_parser()
    stored = ["replay-rejects", "--dag", "flights_daily", "--date", "2013-01-01"]

    assert parser.parse_args(stored).from_source is False
    assert parser.parse_args([*stored, "--from-source"]).from_source is True


def test_airflow_passes_its_arguments_through_untouched() -> None:
    args = cli.build_parser().parse_args(["airflow", "dags", "list", "--output", "json"])

    assert args.args == ["dags", "list", "--output", "json"]


BROKEN_YAML = """warehouse_conn_id: warehouse
staging_schema: staging
pipelines:
  flights:
    source: {conn_id: flights_source, table: ops.flights
"""


@pytest.fixture
def broken_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """FLIGHTDECK_CONFIG pointed at a file that is not valid YAML (a flow mapping never closed)."""
    path = tmp_path / "pipelines.yaml"
    path.write_text(BROKEN_YAML, encoding="utf-8")
    monkeypatch.setenv("FLIGHTDECK_CONFIG", str(path))
    project_config.cache_clear()
    yield path
    project_config.cache_clear()


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "flights_daily", "--date", "2013-01-20"],
        ["backfill", "weather_hourly", "--start", "2013-01-01", "--end", "2013-01-02"],
        ["status"],
        ["demo"],
    ],
    ids=["run", "backfill", "status", "demo"],
)
def test_a_configuration_that_is_not_yaml_is_one_line_with_file_line_and_column_and_exit_2(
    broken_config: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == cli.EXIT_USAGE

    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert line.startswith(f"etl: error: {broken_config}:5:13: not valid YAML: ")
    assert "flow mapping" in line
    assert "DAG" not in line


def test_a_bad_value_is_one_line_with_where_it_is_and_its_key_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pipelines.yaml"
    text = (PROJECT_ROOT / "config" / "pipelines.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("    chunk_rows: 50000\n", "    chunk_rows: lots\n", 1), encoding="utf-8")
    monkeypatch.setenv("FLIGHTDECK_CONFIG", str(path))
    project_config.cache_clear()
    try:
        assert cli.main(["status"]) == cli.EXIT_USAGE
    finally:
        project_config.cache_clear()

    line = one_line(capsys.readouterr().err)
    row = 1 + text.splitlines().index("    chunk_rows: 50000")
    assert line.startswith(f"etl: error: {path}:{row}:17: invalid configuration: pipelines.flights.chunk_rows: ")


def test_the_traceback_is_there_when_asked_for(broken_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--traceback", "status"]) == cli.EXIT_USAGE

    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.rstrip("\n").splitlines()[-1].startswith(f"etl: error: {broken_config}:5:13: ")
