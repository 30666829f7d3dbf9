"""The reference pipelines: one per file of the drop (reference.airlines, reference.airports, ...).

Each has one stage, load: checksum -> skip if unchanged -> parse -> validate -> merge into its
dimension (type 1 or type 2). The reference_data DAG runs them, then the fact-key resolution.
"""

from __future__ import annotations

from flightdeck.core.stage import Pipeline
from flightdeck.sources.reference.config import ReferenceConfig
from flightdeck.sources.reference.load import PIPELINE_PREFIX, load_file


def file_pipeline(name: str) -> Pipeline[ReferenceConfig]:
    """The pipeline of one configured file of the drop."""
    return Pipeline[ReferenceConfig](
        name=f"{PIPELINE_PREFIX}{name}",
        stages={"load": load_file},
        timezone=lambda settings: settings.timezone,
    )
