"""airportsdata's airport records, validated into rows of core.dim_airport (post_extract).

Field names are the dimension's columns; aliases are the package's keys.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from flightdeck.warehouse.types import iana_zone

# Lowest and highest airports on record: Bar Yehuda (-1,266 ft) and Daocheng Yading (14,472 ft).
MIN_ELEVATION_FT = -1_500
MAX_ELEVATION_FT = 16_000
# Validation context key: the zone names the warehouse's PostgreSQL knows (arr_ts is computed there).
WAREHOUSE_ZONES = "warehouse_zones"


def _whole_feet(value: Any) -> Any:
    """Elevations come as floats (237.7); the dimension keeps whole feet. Anything else is validated as is."""
    if isinstance(value, float) and math.isfinite(value):
        return round(value)
    return value


def _empty_is_none(value: Any) -> Any:
    """airportsdata writes an unknown zone (Antarctica) as an empty string."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


class WorldAirport(BaseModel):
    """An airport of airportsdata: IATA code, name, position, elevation and IANA time zone."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    faa: Annotated[
        str,
        Field(
            pattern=r"^[A-Z]{3}$",
            validation_alias="iata",
            description="the IATA code: the code flights name, the dimension's key",
        ),
    ]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    lat: Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False, description="degrees north")]
    lon: Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False, description="degrees east")]
    alt_ft: Annotated[
        int,
        BeforeValidator(_whole_feet),
        Field(
            ge=MIN_ELEVATION_FT,
            le=MAX_ELEVATION_FT,
            validation_alias="elevation",
            description="elevation above mean sea level, feet (rounded to whole feet)",
        ),
    ]
    tzone: Annotated[
        str | None,
        BeforeValidator(_empty_is_none),
        Field(validation_alias="tz", description="IANA time zone; empty means unknown"),
    ]

    @field_validator("tzone")
    @classmethod
    def _known_zone(cls, value: str | None, info: ValidationInfo) -> str | None:
        if iana_zone(value) is None:
            return None
        context: dict[str, Any] = info.context or {}
        zones: frozenset[str] | None = context.get(WAREHOUSE_ZONES)
        if zones is not None and value not in zones:
            raise ValueError(f"{value!r} is not a time zone the warehouse's PostgreSQL knows")
        return value
