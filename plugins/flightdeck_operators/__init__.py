"""Airflow operators that run the stages of the `flightdeck` pipelines (see flightdeck.core.stage)."""

from flightdeck_operators.alerts import WebhookAlertNotifier, alert_on_failure, alert_on_retry
from flightdeck_operators.sensors import PartitionReadySensor
from flightdeck_operators.stages import PipelineStageOperator

__all__ = [
    "PartitionReadySensor",
    "PipelineStageOperator",
    "WebhookAlertNotifier",
    "alert_on_failure",
    "alert_on_retry",
]
