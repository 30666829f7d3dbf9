"""documentation/data-schemas.md is generated from the models and the DDL, and must be current."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightdeck_tools.docgen import OUTPUT, SECTIONS, ddl_file, parse_tables, render, render_data_schemas


def test_the_committed_data_schemas_document_is_current() -> None:
    assert OUTPUT.read_text(encoding="utf-8") == render_data_schemas(), "stale: run `make docs` and commit"


def test_every_table_of_the_ddl_is_documented() -> None:
    document = OUTPUT.read_text(encoding="utf-8")
    for filename in ("source.sql", "warehouse.sql", "weather.sql", "world_airports.sql"):
        for table in parse_tables(ddl_file(filename).read_text(encoding="utf-8")):
            assert f"### `{table.name}`" in document, table.name


def test_every_cross_field_rule_is_documented_in_order() -> None:
    document = OUTPUT.read_text(encoding="utf-8")
    assert "8. An arrival delay needs an arrival time (a diverted flight has neither at its destination)." in document
    assert "11. distance over air_time is a plausible ground speed: 50 to 700 mph." in document
    assert "5. arr_ts is after dep_ts (when both are known)." in document


def test_an_unknown_section_name_in_the_template_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown generated section 'nope'"):
        render("<!-- generated: nope -->\n")
    assert "model-source-flight" in SECTIONS
