"""Settings of the reference pipeline (config/pipelines.yaml, reference): CSV drops in a landing folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from flightdeck.core.config import ConfigError, ConnId, Identifier, PipelineSettings, QualifiedName, StrictModel
from flightdeck.core.paths import PROJECT_ROOT

LANDING_DIR_ENV = "FLIGHTDECK_LANDING_DIR"


class ReferenceFile(StrictModel):
    """One CSV file of a reference drop and the dimension it loads."""

    file: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.csv$")]
    target: QualifiedName
    key: Identifier
    # type1: attributes are overwritten; type2: a changed attribute closes the current version
    # (valid_to) and opens a new one from the drop's day (valid_from).
    history: Literal["type1", "type2"] = "type1"
    # Schema drift: a header column the model does not read fails the file unless allowed.
    allow_new_columns: bool = False
    # A drop that would shrink the set to nothing, or by more than reference.max_shrink_share, is
    # refused as suspicious (a truncated export, a header-only file) unless this is true.
    allow_shrink: bool = False


class ReferenceConfig(PipelineSettings):
    """The reference_data pipeline: CSV file drops in a landing folder upserted into dimensions.

    timezone: local calendar days of the runs (a drop's type-2 versions start on its run's day).
    """

    # The landing folder is the filesystem connection conn_id (conn_type fs, extra {"path": ...}); without
    # that connection, FLIGHTDECK_LANDING_DIR or landing_dir (relative to the project root).
    conn_id: ConnId
    landing_dir: Annotated[str, Field(min_length=1)]
    files: dict[Identifier, ReferenceFile] = Field(min_length=1)
    # The largest share of a dimension's current members a drop may lack before it is refused.
    max_shrink_share: float = Field(default=0.2, ge=0.0, le=1.0)

    def landing_path(self) -> Path:
        """The landing folder when conn_id is not defined: FLIGHTDECK_LANDING_DIR if set, else landing_dir."""
        path = Path(os.environ.get(LANDING_DIR_ENV) or self.landing_dir)
        return path if path.is_absolute() else PROJECT_ROOT / path

    def file(self, name: str) -> ReferenceFile:
        try:
            return self.files[name]
        except KeyError:
            known = ", ".join(sorted(self.files))
            raise ConfigError(f"no reference file {name!r} in the configuration (known: {known})") from None
