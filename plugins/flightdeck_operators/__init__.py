"""Airflow operators that wrap the pure stage functions of the `flightdeck` package."""

from flightdeck_operators.alerts import WebhookAlertNotifier, alert_on_failure, alert_on_retry
from flightdeck_operators.reference import ReferenceFileLoadOperator, ResolveFactKeysOperator
from flightdeck_operators.stages import (
    ExtractToStagingOperator,
    PartitionLoadOperator,
    ReconcileOperator,
    ValidateTransformOperator,
)
from flightdeck_operators.weather import (
    WeatherCheckOperator,
    WeatherExtractOperator,
    WeatherLoadOperator,
    WeatherValidateTransformOperator,
)

__all__ = [
    "ExtractToStagingOperator",
    "PartitionLoadOperator",
    "ReconcileOperator",
    "ReferenceFileLoadOperator",
    "ResolveFactKeysOperator",
    "ValidateTransformOperator",
    "WeatherCheckOperator",
    "WeatherExtractOperator",
    "WeatherLoadOperator",
    "WeatherValidateTransformOperator",
    "WebhookAlertNotifier",
    "alert_on_failure",
    "alert_on_retry",
]
