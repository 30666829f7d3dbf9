"""Where the project's files are, wherever it is imported from (Airflow, tests, the CLI)."""

from __future__ import annotations

import os
from pathlib import Path

# include/flightdeck/core/paths.py -> include/flightdeck -> the repository.
PACKAGE_DIR = Path(__file__).resolve().parent.parent
PROJECT_ROOT = PACKAGE_DIR.parent.parent


def config_path() -> Path:
    """The pipeline configuration file; FLIGHTDECK_CONFIG overrides the project's own."""
    override = os.environ.get("FLIGHTDECK_CONFIG")
    return Path(override) if override else PROJECT_ROOT / "config" / "pipelines.yaml"
