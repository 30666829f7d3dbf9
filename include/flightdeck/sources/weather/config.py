"""Settings of the weather pipeline (config/pipelines.yaml, weather): Open-Meteo's /v1/archive over HTTP."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from flightdeck.core.config import ConnId, PipelineSettings, RetryConfig, StrictModel, TargetConfig

# The Open-Meteo hourly variables the weather pipeline knows how to load (see schemas.py).
WeatherVariable = Literal[
    "temperature_2m",
    "dew_point_2m",
    "relative_humidity_2m",
    "precipitation",
    "pressure_msl",
    "wind_speed_10m",
    "wind_direction_10m",
    "wind_gusts_10m",
    "visibility",
]


class WeatherAirport(StrictModel):
    """Where the API is asked for an origin airport's weather (WGS84 degrees)."""

    latitude: float = Field(ge=-90.0, le=90.0)
    longitude: float = Field(ge=-180.0, le=180.0)


class WeatherRetryConfig(RetryConfig):
    """Retries of one API request, and how long one attempt may take."""

    connect_timeout_s: float = Field(gt=0.0, le=120.0)
    read_timeout_s: float = Field(gt=0.0, le=600.0)


class WeatherConfig(PipelineSettings):
    """The weather pipeline: Open-Meteo's /v1/archive over the HTTP connection conn_id."""

    conn_id: ConnId
    endpoint: str = Field(pattern=r"^/[A-Za-z0-9_./-]*$")
    airports: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], WeatherAirport] = Field(min_length=1)
    hourly: tuple[WeatherVariable, ...] = Field(min_length=1)
    target: TargetConfig
    retry: WeatherRetryConfig

    @field_validator("hourly")
    @classmethod
    def _distinct_variables(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("hourly variables must not repeat")
        return value
