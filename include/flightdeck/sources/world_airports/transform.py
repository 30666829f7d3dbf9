"""Transform: airportsdata's records validated into dimension rows; every refused record kept as it came."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, LiteralString

from flightdeck.core.validation import Rejection, validate_records
from flightdeck.sources.world_airports.schemas import WAREHOUSE_ZONES, WorldAirport

# The dimension columns this source writes, with their warehouse types (the model's fields, in order).
ROW_COLUMNS: tuple[tuple[str, LiteralString], ...] = (
    ("faa", "text"),
    ("name", "text"),
    ("lat", "double precision"),
    ("lon", "double precision"),
    ("alt_ft", "integer"),
    ("tzone", "text"),
)


def airport_rows(
    records: Iterable[Mapping[str, Any]], zones: frozenset[str] | None = None
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Valid dimension rows (the ROW_COLUMNS) and one rejection per refused record, with its raw payload.

    Records failing the model are rejected at post_extract. A code that repeats is ambiguous (which
    airport does it name?): every occurrence after the first is rejected at pre_load. With `zones`,
    a zone the warehouse's PostgreSQL does not know is refused too.
    """
    given = list(records)
    context = {WAREHOUSE_ZONES: zones} if zones is not None else None
    valid, rejections = validate_records(given, WorldAirport, "post_extract", context)
    refused = {id(rejection.raw) for rejection in rejections}
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for airport, raw in zip(valid, (record for record in given if id(record) not in refused), strict=True):
        if airport.faa in seen:
            rejections.append(Rejection("pre_load", "iata", f"iata {airport.faa!r} repeats an earlier record", raw))
            continue
        seen.add(airport.faa)
        rows.append(airport.model_dump())
    return rows, rejections
