"""Local wall-clock times to instants in SQL, resolving daylight-saving gaps and overlaps.

The SQL twin of zoneinfo's reading of a wall time (see flightdeck.sources.flights.facts.localize):
the flights transform computes departure and arrival instants with it, and the fact-key resolution
recomputes arrival instants when an airport's zone arrives late.
"""

from __future__ import annotations

from psycopg import sql


def readings(wall: sql.Composable, zone: sql.Composable) -> tuple[sql.Composed, sql.Composed]:
    """The two candidate instants (timestamptz) of a wall-clock time (timestamp) in a zone (text): with
    the zone's offset of a day before, and of a day after. Equal unless an offset change is that close."""
    day = sql.SQL("interval '24 hours'")
    before = sql.SQL("(((({wall}) - {day}) AT TIME ZONE {zone}) + {day})").format(wall=wall, day=day, zone=zone)
    after = sql.SQL("(((({wall}) + {day}) AT TIME ZONE {zone}) - {day})").format(wall=wall, day=day, zone=zone)
    return before, after


def resolve(
    wall: sql.Composable,
    zone: sql.Composable,
    before: sql.Composable,
    after: sql.Composable,
    near: sql.Composable | None = None,
) -> sql.Composed:
    """`localize` given the readings() of the wall time: its instant, null for a null wall time or zone.

    Away from an offset change both readings agree. Near one, a reading is real when it reads back as
    the same wall time: in the repeated hour both are, in the skipped hour neither is. The first reading
    (zoneinfo's fold 0) is the one with the offset from before the change, the second the one with the
    offset after it. With `near`, the reading closest to that instant wins, ties to the first; without
    `near`, the first. (Assumes at most one offset change within a day either side of the wall time.)
    """
    before_real = sql.SQL("((({}) AT TIME ZONE {}) = ({}))").format(before, zone, wall)
    after_real = sql.SQL("((({}) AT TIME ZONE {}) = ({}))").format(after, zone, wall)
    first = sql.SQL("(CASE WHEN {after_real} AND NOT {before_real} THEN {after} ELSE {before} END)").format(
        after_real=after_real, before_real=before_real, after=after, before=before
    )
    resolved: sql.Composable = first
    if near is not None:
        second = sql.SQL("(CASE WHEN {before_real} AND NOT {after_real} THEN {before} ELSE {after} END)").format(
            after_real=after_real, before_real=before_real, after=after, before=before
        )
        resolved = sql.SQL(
            "(CASE WHEN greatest({first} - ({near}), ({near}) - {first}) "
            "<= greatest({second} - ({near}), ({near}) - {second}) "
            "THEN {first} ELSE {second} END)"
        ).format(first=first, second=second, near=near)
    return sql.SQL(
        "(CASE WHEN {before} = {after} THEN {before} "
        "WHEN {before} IS NOT NULL AND {after} IS NOT NULL THEN {resolved} END)"
    ).format(before=before, after=after, resolved=resolved)


def localized(wall: sql.Composable, zone: sql.Composable, near: sql.Composable | None = None) -> sql.Composed:
    """`localize` in SQL (see resolve). With `near`: when `near` itself reads as the wall time (every
    departure but those across an offset change), it is the closest reading: one conversion, no more."""
    before, after = readings(wall, zone)
    if near is None:
        return resolve(wall, zone, before, after)
    return sql.SQL("(CASE WHEN (({near}) AT TIME ZONE {zone}) = ({wall}) THEN {near} ELSE {resolved} END)").format(
        near=near, zone=zone, wall=wall, resolved=resolve(wall, zone, before, after, near)
    )
