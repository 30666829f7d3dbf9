"""The weather_hourly stages as operators: the flights operators' error sorting, another source.

The weather source is an HTTP connection (weather.conn_id in the configuration), read by the stage
itself through the http provider's HttpHook; the resolved endpoints therefore name only the
warehouse. Nothing is pushed to XCom: data moves through the partition's staging tables.
"""

from __future__ import annotations

from typing import Any

from flightdeck.core.config import ProjectConfig, project_config
from flightdeck.core.connections import postgres_url
from flightdeck.core.partition import Partition
from flightdeck.sources.flights.pipeline import Endpoints
from flightdeck.sources.weather import pipeline as weather
from flightdeck_operators.stages import _StageOperator, partition_from_context  # pyright: ignore[reportPrivateUsage]


class _WeatherStageOperator(_StageOperator):
    """A stage of the weather pipeline for the DAG run's data interval (local days of weather.timezone)."""

    ui_color = "#fdf3e1"

    def __init__(self, *, pipeline_name: str = weather.PIPELINE, **kwargs: Any) -> None:
        super().__init__(pipeline_name=pipeline_name, **kwargs)

    def resolve(self, context: Any) -> tuple[ProjectConfig, Partition, Endpoints]:
        project = project_config()
        partition = partition_from_context(self.pipeline_name, project.weather_config().timezone, context)
        warehouse = postgres_url(project.warehouse_conn_id)
        # No database source: `source` repeats the warehouse and no weather stage reads it.
        return project, partition, Endpoints(source=warehouse, warehouse=warehouse)


def _extract(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> object:
    return weather.extract(endpoints.warehouse, project, partition)


def _transform(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> object:
    return weather.transform(endpoints.warehouse, project, partition)


def _load(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> object:
    return weather.load(endpoints.warehouse, project, partition)


def _check(endpoints: Endpoints, project: ProjectConfig, partition: Partition) -> object:
    return weather.check(endpoints.warehouse, project, partition)


class WeatherExtractOperator(_WeatherStageOperator):
    """One API request per origin airport for the day -> the partition's raw staging table."""

    stage = staticmethod(_extract)


class WeatherValidateTransformOperator(_WeatherStageOperator):
    """Validate each hour, convert to core.weather_hourly rows; reject bad hours to the audit."""

    stage = staticmethod(_transform)


class WeatherLoadOperator(_WeatherStageOperator):
    """Pre-load checks, then replace the day in core.weather_hourly in one transaction."""

    stage = staticmethod(_load)


class WeatherCheckOperator(_WeatherStageOperator):
    """Fail the run unless extracted = loaded + rejected and the keys are unique and not null."""

    stage = staticmethod(_check)
    records_own_failure = True
