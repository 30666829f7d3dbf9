"""Reference data (airports, airlines, planes): source rows validated into dimension rows.

Field names are the dimension's columns; aliases are the source's column names.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from flightdeck.warehouse.types import CarrierCode, IanaZone, TailNumber


class _Reference(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class AirportRef(_Reference):
    """An airport: FAA location identifier (3-4 letters or digits), position and time zone."""

    faa: Annotated[str, Field(pattern=r"^[A-Z0-9]{3,4}$")]
    name: Annotated[str, Field(min_length=1)]
    lat: Annotated[float | None, Field(ge=-90, le=90)]
    lon: Annotated[float | None, Field(ge=-180, le=180)]
    alt_ft: Annotated[int | None, Field(ge=-1500, le=30_000, validation_alias="alt")]
    utc_offset_h: Annotated[int | None, Field(ge=-12, le=14, validation_alias="tz")]
    dst: Literal["A", "U", "N"] | None
    tzone: IanaZone


class CarrierRef(_Reference):
    carrier: CarrierCode
    name: Annotated[str, Field(min_length=1)]


class AircraftRef(_Reference):
    tailnum: TailNumber
    year_built: Annotated[int | None, Field(ge=1900, le=2100, validation_alias="year")]
    type: str | None
    manufacturer: str | None
    model: str | None
    engines: Annotated[int | None, Field(ge=0, le=8)]
    seats: Annotated[int | None, Field(ge=1, le=1000)]
    speed: Annotated[int | None, Field(ge=1, le=1000)]
    engine: str | None
