"""config.py: the YAML configuration parses strictly, and every mistake names the key it is in."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from flightdeck.catalog import load_config, parse_config, project_config
from flightdeck.core.config import ConfigError
from flightdeck.core.paths import PROJECT_ROOT
from flightdeck.sources.flights.schemas import FactFlight, SourceFlight

REAL_CONFIG = PROJECT_ROOT / "config" / "pipelines.yaml"
DELETE = object()


@pytest.fixture(scope="module")
def real_data() -> dict[str, Any]:
    data = yaml.safe_load(REAL_CONFIG.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _changed(data: dict[str, Any], path: str, value: object) -> str:
    """The real configuration as YAML text, with the key at a dotted path set (or deleted)."""
    changed = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = changed
    for part in parents:
        node = node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return yaml.safe_dump(changed)


def test_the_project_configuration_parses() -> None:
    config = load_config(REAL_CONFIG)

    flights = config.pipeline("flights")
    assert flights.timezone == "America/New_York"
    assert 0.0 <= flights.max_reject_share <= 1.0
    assert set(config.reference.files) == {"airports", "airlines", "planes"}
    assert config.reference.file("planes").history == "type2"
    assert {config.reference.file(name).history for name in ("airports", "airlines")} == {"type1"}


def test_the_configured_columns_exist_in_the_flight_schemas() -> None:
    flights = load_config(REAL_CONFIG).pipeline("flights")

    assert set(flights.source.day_columns) <= set(SourceFlight.model_fields)
    assert flights.target.partition_column in FactFlight.model_fields
    assert set(flights.target.key) <= set(FactFlight.model_fields)


def test_the_configuration_is_frozen() -> None:
    flights = load_config(REAL_CONFIG).pipeline("flights")

    with pytest.raises(ValueError, match="frozen"):
        flights.timezone = "UTC"  # pyright: ignore[reportAttributeAccessIssue]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        pytest.param(
            "pipelines.flights.retries",
            3,
            "pipelines.flights.retries: Extra inputs are not permitted",
            id="unknown-key",
        ),
        pytest.param(
            "pipelines.flights.target.extra_column",
            "x",
            "pipelines.flights.target.extra_column",
            id="nested-unknown-key",
        ),
        pytest.param(
            "pipelines.flights.target.table", "core.fact; drop", "pipelines.flights.target.table", id="sql-in-table"
        ),
        pytest.param("pipelines.flights.source.table", "flights", "pipelines.flights.source.table", id="unqualified"),
        pytest.param("pipelines.flights.target.table", "Core.Fact", "pipelines.flights.target.table", id="uppercase"),
        pytest.param(
            "pipelines.flights.target.partition_column",
            "flight date",
            "pipelines.flights.target.partition_column",
            id="space-in-column",
        ),
        pytest.param("pipelines.flights.target.key", [], "pipelines.flights.target.key", id="empty-key"),
        pytest.param(
            "pipelines.flights.source.day_columns",
            ["year", "month"],
            "pipelines.flights.source.day_columns",
            id="two-days",
        ),
        pytest.param(
            "pipelines.flights.timezone",
            "Mars/Olympus_Mons",
            "pipelines.flights.timezone: Value error, unknown time zone 'Mars/Olympus_Mons'",
            id="unknown-zone",
        ),
        pytest.param("pipelines.flights.timezone", "", "pipelines.flights.timezone", id="empty-zone"),
        pytest.param(
            "pipelines.flights.max_reject_share",
            1.5,
            "pipelines.flights.max_reject_share: Input should be less than or equal to 1",
            id="share-above-one",
        ),
        pytest.param(
            "pipelines.flights.max_reject_share",
            -0.01,
            "pipelines.flights.max_reject_share: Input should be greater than or equal to 0",
            id="negative-share",
        ),
        pytest.param("pipelines.flights.chunk_rows", 10, "pipelines.flights.chunk_rows", id="tiny-chunks"),
        pytest.param("pipelines.flights.timezone", DELETE, "pipelines.flights.timezone: Field required", id="missing"),
        pytest.param("warehouse_conn_id", "ware-house", "warehouse_conn_id", id="bad-conn-id"),
        pytest.param("reference.files.airports.key", "FAA", "reference.files.airports.key", id="reference-key"),
        pytest.param("reference.files.planes.history", "type3", "reference.files.planes.history", id="scd-type"),
        pytest.param("reference.files.planes.file", "../planes.csv", "reference.files.planes.file", id="file-path"),
        pytest.param("reference.files.planes.file", "planes.txt", "reference.files.planes.file", id="not-csv"),
    ],
)
def test_a_bad_value_names_its_key_path(real_data: dict[str, Any], path: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(_changed(real_data, path, value), origin="pipelines.yaml")

    message = str(raised.value)
    # Where (file:line:column of the offending key, or of the mapping a missing key belongs in), then what.
    assert re.match(r"pipelines\.yaml:\d+:\d+: invalid configuration: ", message), message
    assert expected in message


def test_a_bad_pipeline_name_is_reported_at_the_key(real_data: dict[str, Any]) -> None:
    data = copy.deepcopy(real_data)
    data["pipelines"]["Flights!"] = data["pipelines"].pop("flights")

    with pytest.raises(ConfigError, match=r"pipelines\.Flights!"):
        parse_config(yaml.safe_dump(data))


def test_every_problem_is_listed_in_one_message(real_data: dict[str, Any]) -> None:
    text = _changed(yaml.safe_load(_changed(real_data, "staging_schema", "Stage")), "pipelines.flights.chunk_rows", 1)

    with pytest.raises(ConfigError) as raised:
        parse_config(text)

    assert "staging_schema" in str(raised.value)
    assert "pipelines.flights.chunk_rows" in str(raised.value)


def test_invalid_yaml_is_a_config_error_with_its_position() -> None:
    text = "warehouse_conn_id: warehouse\npipelines:\n  flights: {source: [ops.flights\n"

    with pytest.raises(ConfigError) as raised:
        parse_config(text, origin="config/pipelines.yaml")

    message = str(raised.value)
    # file:line:column of the flow sequence never closed, then where the parser gave up.
    assert message.startswith("config/pipelines.yaml:3:21: not valid YAML: while parsing a flow sequence")
    assert "(at line 4, column 1)" in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["", "- flights\n- hotels\n", "just a string\n"], ids=["empty", "list", "scalar"])
def test_a_document_that_is_not_a_mapping_is_reported_at_the_top_level(text: str) -> None:
    with pytest.raises(ConfigError, match=r"\(top level\)"):
        parse_config(text)


def test_an_unknown_pipeline_names_the_known_ones(real_data: dict[str, Any]) -> None:
    data = copy.deepcopy(real_data)
    data["pipelines"]["hotels"] = copy.deepcopy(data["pipelines"]["flights"])
    config = parse_config(yaml.safe_dump(data))

    with pytest.raises(ConfigError) as raised:
        config.pipeline("nope")

    assert str(raised.value) == "no pipeline 'nope' in the configuration (known: flights, hotels)"


def test_a_missing_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"

    with pytest.raises(ConfigError, match=r"nowhere\.yaml"):
        load_config(missing)


def test_flightdeck_config_points_the_project_at_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_data: dict[str, Any]
) -> None:
    other = tmp_path / "pipelines.yaml"
    other.write_text(_changed(real_data, "staging_schema", "staging_test"), encoding="utf-8")
    monkeypatch.setenv("FLIGHTDECK_CONFIG", str(other))
    project_config.cache_clear()
    try:
        assert project_config().staging_schema == "staging_test"
    finally:
        project_config.cache_clear()


def test_the_landing_folder_is_relative_to_the_project_unless_overridden(
    real_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    reference = parse_config(yaml.safe_dump(real_data)).reference
    monkeypatch.delenv("FLIGHTDECK_LANDING_DIR", raising=False)
    assert reference.landing_path() == PROJECT_ROOT / ".local" / "landing" / "reference"

    monkeypatch.setenv("FLIGHTDECK_LANDING_DIR", str(tmp_path))
    assert reference.landing_path() == tmp_path


def test_an_unknown_reference_file_names_the_known_ones(real_data: dict[str, Any]) -> None:
    reference = parse_config(yaml.safe_dump(real_data)).reference

    with pytest.raises(ConfigError, match=r"no reference file 'routes' .*\(known: airlines, airports, planes\)"):
        reference.file("routes")
