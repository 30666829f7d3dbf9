"""The reference_data stages as operators: one per file of the drop, then the fact-key resolution.

Errors are sorted as in stages.py. The reference source is a landing folder (reference.landing_dir),
read by the stage itself, so the resolved endpoints name only the warehouse.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flightdeck.core.config import ProjectConfig, project_config
from flightdeck.core.connections import postgres_url
from flightdeck.core.partition import Partition
from flightdeck.sources.flights.pipeline import Endpoints
from flightdeck.sources.reference import pipeline as reference
from flightdeck_operators.stages import _StageOperator, partition_from_context  # pyright: ignore[reportPrivateUsage]


class _ReferenceStageOperator(_StageOperator):
    """A reference_data stage for the DAG run's data interval (local days of reference.timezone)."""

    ui_color = "#eef7ea"

    def resolve(self, context: Any) -> tuple[ProjectConfig, Partition, Endpoints]:
        project = project_config()
        partition = partition_from_context(self.pipeline_name, project.reference.timezone, context)
        warehouse = postgres_url(project.warehouse_conn_id)
        # No database source: `source` repeats the warehouse and no reference stage reads it.
        return project, partition, Endpoints(source=warehouse, warehouse=warehouse)


def _load_file(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> object:
    name = partition.pipeline.removeprefix(reference.PIPELINE_PREFIX)
    return reference.load_reference_file(
        endpoints.warehouse, project.reference, project.staging_schema, name, partition
    )


class ReferenceFileLoadOperator(_ReferenceStageOperator):
    """Load one CSV file of the drop into its dimension (skipped when its checksum was loaded before)."""

    stage = staticmethod(_load_file)

    def __init__(self, *, file_name: str, **kwargs: Any) -> None:
        # The file's configuration key (airlines, airports, planes) names the pipeline in the audit.
        project_config().reference.file(file_name)  # an unknown name fails the DAG import, naming it
        super().__init__(pipeline_name=f"{reference.PIPELINE_PREFIX}{file_name}", **kwargs)
        self.file_name = file_name


def _resolve(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> object:
    return reference.resolve_fact_keys(endpoints.warehouse, partition)


class ResolveFactKeysOperator(_ReferenceStageOperator):
    """Point facts loaded before a member arrived (or before a type-2 change) at the right dimension rows.

    Its asset event names the local days whose facts changed (null bounds when none did), so the
    marts DAG rebuilds exactly those.
    """

    stage = staticmethod(_resolve)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(pipeline_name=f"{reference.PIPELINE_PREFIX}fact_keys", **kwargs)

    def asset_extra(self, partition: Partition, result: object) -> dict[str, str | None]:
        if not isinstance(result, reference.ResolvedKeys) or result.first_day is None or result.last_day is None:
            return {"partition_start": None, "partition_end": None}
        return {
            "partition_start": result.first_day.isoformat(),
            "partition_end": (result.last_day + dt.timedelta(days=1)).isoformat(),
        }
