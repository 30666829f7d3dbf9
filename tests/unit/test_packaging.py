"""pyproject.toml ships every package and its DDL: a new source or sql/ folder cannot be forgotten."""

from __future__ import annotations

import tomllib

from flightdeck.core.paths import PROJECT_ROOT

ROOTS = {"flightdeck": "include/flightdeck", "flightdeck_operators": "plugins/flightdeck_operators"}


def test_every_folder_with_code_or_ddl_is_a_listed_package() -> None:
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {
        ".".join((name, *folder.relative_to(PROJECT_ROOT / root).parts))
        for name, root in {**ROOTS, "flightdeck_tools": "scripts/flightdeck_tools"}.items()
        for folder in [PROJECT_ROOT / root, *(PROJECT_ROOT / root).rglob("*")]
        if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py")) | any(folder.glob("*.sql"))
    }

    assert found - listed == set()
    assert listed - found == set()
    assert config["package-data"] == {"*": ["*.sql"]}
