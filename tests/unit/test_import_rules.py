"""The layout is the architecture: which package may import which, checked on every import statement.

core is the framework and knows no source; warehouse is the model the sources share; each source is a
package of its own that imports no other source; marts build on the warehouse; only the catalog
knows every source. The product (include/, plugins/, dags/) never imports the development tools.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightdeck.core.paths import PACKAGE_DIR, PROJECT_ROOT

PRODUCT = [PACKAGE_DIR, PROJECT_ROOT / "plugins", PROJECT_ROOT / "dags"]


def imported_modules(path: Path) -> Iterator[str]:
    """Every absolute module an import statement of the file names (function-level imports too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            # `from flightdeck.sources import weather` imports a subpackage by name.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def layer(module: str) -> str | None:
    """The architectural layer of a flightdeck module: core, warehouse, marts, catalog or source:<name>."""
    parts = module.split(".")
    if parts[0] != "flightdeck" or len(parts) < 2:
        return None
    if parts[1] == "sources":
        return f"source:{parts[2]}" if len(parts) > 2 else "sources"
    return parts[1]


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "warehouse": {"core", "warehouse"},
    "marts": {"core", "warehouse", "marts"},
}


def allowed(importer: str, imported: str) -> bool:
    if importer == "catalog" or importer == imported:
        return True
    if importer.startswith("source:"):
        return imported in {"core", "warehouse", "sources"}
    return imported in ALLOWED.get(importer, set())


def product_files() -> list[Path]:
    return sorted(path for root in PRODUCT for path in root.rglob("*.py"))


@pytest.mark.parametrize("path", sorted(PACKAGE_DIR.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_each_layer_imports_only_what_it_may(path: Path) -> None:
    # The root package (flightdeck/__init__.py) is a namespace only: it may import nothing of its own.
    importer = layer(module_name(path)) or "root"
    wrong = sorted(
        {
            module
            for module in imported_modules(path)
            if (imported := layer(module)) is not None and imported != "sources" and not allowed(importer, imported)
        }
    )
    assert wrong == [], f"{module_name(path)} ({importer}) must not import {wrong}"


def test_the_product_never_imports_the_development_tools() -> None:
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): module
        for path in product_files()
        for module in imported_modules(path)
        if module.split(".")[0] == "flightdeck_tools"
    }
    assert offenders == {}


def test_include_never_imports_airflow_operators_or_dag_files() -> None:
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): module
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        for module in imported_modules(path)
        if module.split(".")[0] == "flightdeck_operators"
    }
    assert offenders == {}


def test_every_source_is_a_package_with_the_same_stage_modules() -> None:
    sources = sorted(path for path in (PACKAGE_DIR / "sources").iterdir() if (path / "__init__.py").exists())
    assert len(sources) >= 3
    for source in sources:
        present = {path.stem for path in source.glob("*.py")}
        missing = {"config", "schemas", "pipeline", "load"} - present
        assert not missing, f"{source.name} lacks {sorted(missing)}"


def test_the_rules_catch_a_source_importing_another(tmp_path: Path) -> None:
    offender = tmp_path / "load.py"
    offender.write_text("from flightdeck.sources.flights.extract import SOURCE_COLUMNS\n", encoding="utf-8")
    imported = [layer(module) for module in imported_modules(offender)]
    assert "source:flights" in imported
    assert not allowed("source:weather", "source:flights")
    assert not allowed("core", "warehouse")
    assert allowed("source:weather", "core")
