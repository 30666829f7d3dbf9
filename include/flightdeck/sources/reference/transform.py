"""Transform: a parsed drop's records validated into dimension rows; every refused record kept with its line."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from flightdeck.core.files import CsvDrop
from flightdeck.core.validation import Rejection, validate_records

# Helper keys of a rejected record's raw payload (CSV columns never start with an underscore here).
FILE_KEY = "_file"
LINE_KEY = "_line"
TEXT_KEY = "_text"


def drop_rejections(drop: CsvDrop, model: type[BaseModel], key: str) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Valid dimension rows of a parsed drop, and every record refused with its file and line.

    A key that repeats within the file is ambiguous (which row wins?): every later occurrence is
    rejected naming the line it repeats.
    """
    rejections = [
        Rejection("parse", None, line.reason, {FILE_KEY: drop.name, LINE_KEY: line.line, TEXT_KEY: line.text})
        for line in drop.rejections
    ]
    rows = [{FILE_KEY: drop.name, LINE_KEY: record.line, **record.values} for record in drop.records]
    valid, invalid = validate_records(rows, model, "post_extract")
    rejections.extend(invalid)
    refused = {id(rejection.raw) for rejection in invalid}
    kept: list[dict[str, Any]] = []
    first_line: dict[Any, int] = {}
    for model_row, raw in zip(valid, (row for row in rows if id(row) not in refused), strict=True):
        values = model_row.model_dump()
        line = int(str(raw[LINE_KEY]))
        seen = first_line.get(values[key])
        if seen is not None:
            rejections.append(Rejection("pre_load", key, f"{key} {values[key]!r} repeats line {seen}", raw))
            continue
        first_line[values[key]] = line
        kept.append(values)
    rejections.sort(key=lambda rejection: int(str(rejection.raw[LINE_KEY])))
    return kept, rejections
