"""Transform: a parsed drop's records validated into dimension rows; every refused record kept with its line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from flightdeck.core.files import CsvDrop
from flightdeck.core.validation import Rejection, validate_records

# Helper keys of a rejected record's raw payload (CSV columns never start with an underscore here).
FILE_KEY = "_file"
LINE_KEY = "_line"
TEXT_KEY = "_text"


@dataclass(frozen=True)
class DropRows:
    """What a parsed drop yields: the dimension rows, every refused record, and the exact copies removed."""

    rows: list[dict[str, Any]]
    rejections: list[Rejection]
    duplicates: int  # later copies of a record identical to an earlier one: removed, not errors


def _differences(copies: list[dict[str, Any]]) -> str:
    """The columns on which copies of one key disagree, with their values in line order."""
    columns = [name for name in copies[0] if len({repr(copy[name]) for copy in copies}) > 1]
    return "; ".join(f"{name}: {' vs '.join(repr(copy[name]) for copy in copies)}" for name in columns)


def drop_rejections(drop: CsvDrop, model: type[BaseModel], key: str) -> DropRows:
    """Valid dimension rows of a parsed drop, and every record refused with its file and line.

    A key on several lines: identical copies collapse into the first (counted as duplicates); copies
    that disagree are ambiguous (which one is the truth?), so every copy is rejected naming all their
    lines and the differing values, and the dimension keeps what it held for that key.
    """
    rejections = [
        Rejection("parse", None, line.reason, {FILE_KEY: drop.name, LINE_KEY: line.line, TEXT_KEY: line.text})
        for line in drop.rejections
    ]
    rows = [{FILE_KEY: drop.name, LINE_KEY: record.line, **record.values} for record in drop.records]
    valid, invalid = validate_records(rows, model, "post_extract")
    rejections.extend(invalid)
    refused = {id(rejection.raw) for rejection in invalid}
    by_key: dict[Any, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for model_row, raw in zip(valid, (row for row in rows if id(row) not in refused), strict=True):
        values = model_row.model_dump()
        by_key.setdefault(values[key], []).append((values, raw))
    kept: list[dict[str, Any]] = []
    duplicates = 0
    for member, copies in by_key.items():
        distinct = {repr(sorted(values.items())) for values, _ in copies}
        if len(distinct) == 1:
            kept.append(copies[0][0])
            duplicates += len(copies) - 1
            continue
        lines = ", ".join(str(raw[LINE_KEY]) for _, raw in copies)
        reason = (
            f"{key} {member!r} is on lines {lines} with different values "
            f"({_differences([values for values, _ in copies])}): no copy was loaded"
        )
        rejections.extend(Rejection("pre_load", key, reason, raw) for _, raw in copies)
    rejections.sort(key=lambda rejection: int(str(rejection.raw[LINE_KEY])))
    return DropRows(kept, rejections, duplicates)
