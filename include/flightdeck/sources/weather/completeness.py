"""Every hour of a weather day accounted for: stored, rejected, or reported missing by the API.

A local day has 23, 24 or 25 hours per airport (in America/New_York 23 on the spring-forward day, 25
on the fall-back day). The extract records the hours that the API answered without any value in
audit.weather_empty_hours (the hours it reported missing). The check then sorts every expected hour
of every configured airport into stored (in the target table), rejected (a standing rejection of the
day carries its origin and obs_hour), reported missing, or unaccounted for, in that order, so that
per airport: expected = stored + rejected + reported missing + unaccounted. An hour unaccounted for
(one the API's answer did not hold, or one lost between the stages) fails the run, naming the
airport and the hour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from psycopg import sql

from flightdeck.core.compose import Connection, qualified
from flightdeck.core.partition import Partition
from flightdeck.core.reconcile import Findings
from flightdeck.core.staging import copy_records
from flightdeck.sources.weather.config import WeatherConfig
from flightdeck.sources.weather.hours import HourRecord, expected_hours
from flightdeck.warehouse.schema import WEATHER_EMPTY_HOURS

EMPTY_HOURS = sql.Identifier(*WEATHER_EMPTY_HOURS)
EMPTY_HOURS_COLUMNS = ("origin", "obs_hour", "obs_date", "run_id")
# How many of an airport's unaccounted hours a failure message names (the count is always given).
NAMED_HOURS = 6
OUTCOMES = ("stored", "rejected", "reported_missing", "unaccounted")


def replace_empty_hours(
    conn: Connection,
    partition: Partition,
    window: tuple[dt.datetime, dt.datetime],
    hours: Iterable[HourRecord],
    timezone: str,
) -> int:
    """Make audit.weather_empty_hours hold, for the instants [first, last), exactly this extract's empty hours."""
    first, last = window
    zone = ZoneInfo(timezone)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE obs_hour >= %s AND obs_hour < %s").format(EMPTY_HOURS), (first, last))
    # An hour the answer holds twice is one hour.
    distinct = {(record.origin, record.obs_hour) for record in hours if first <= record.obs_hour < last}
    return copy_records(
        conn,
        EMPTY_HOURS,
        EMPTY_HOURS_COLUMNS,
        (
            {"origin": origin, "obs_hour": hour, "obs_date": hour.astimezone(zone).date(), "run_id": partition.run_id}
            for origin, hour in sorted(distinct)
        ),
    )


@dataclass(frozen=True)
class AirportHours:
    """One airport's hours of the partition, each counted once, in the first outcome that holds it."""

    origin: str
    expected: int
    stored: int = 0
    rejected: int = 0
    reported_missing: int = 0
    unaccounted: tuple[dt.datetime, ...] = field(default=())


def account_hours(conn: Connection, cfg: WeatherConfig, partition: Partition) -> list[AirportHours]:
    """Sort every expected hour of every configured airport into stored, rejected, reported missing or unaccounted."""
    hours = expected_hours(partition.start, partition.end, cfg.timezone)
    origins = sorted(cfg.airports)
    query = sql.SQL(
        "WITH expected AS ("
        " SELECT o.origin, h.obs_hour FROM unnest(%(origins)s::text[]) AS o (origin)"
        " CROSS JOIN unnest(%(hours)s::timestamptz[]) AS h (obs_hour)), "
        "rejected AS ("
        " SELECT DISTINCT r.raw ->> 'origin' AS origin, (r.raw ->> 'obs_hour')::timestamptz AS obs_hour"
        " FROM audit.rejected_records r"
        " WHERE r.pipeline = %(pipeline)s AND r.partition_date = %(day)s AND r.replayed_at IS NULL"
        " AND jsonb_typeof(r.raw -> 'origin') = 'string' AND jsonb_typeof(r.raw -> 'obs_hour') = 'string') "
        "SELECT e.origin, e.obs_hour, CASE"
        " WHEN EXISTS (SELECT 1 FROM {target} t WHERE t.origin = e.origin AND t.obs_hour = e.obs_hour)"
        " THEN 'stored'"
        " WHEN EXISTS (SELECT 1 FROM rejected r WHERE r.origin = e.origin AND r.obs_hour = e.obs_hour)"
        " THEN 'rejected'"
        " WHEN EXISTS (SELECT 1 FROM {empty} m WHERE m.origin = e.origin AND m.obs_hour = e.obs_hour)"
        " THEN 'reported_missing'"
        " ELSE 'unaccounted' END "
        "FROM expected e ORDER BY e.origin, e.obs_hour"
    ).format(target=qualified(cfg.target.table), empty=EMPTY_HOURS)
    params = {"origins": origins, "hours": hours, "pipeline": partition.pipeline, "day": partition.key}
    with conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    tally: dict[str, dict[str, int]] = {origin: dict.fromkeys(OUTCOMES, 0) for origin in origins}
    missing: dict[str, list[dt.datetime]] = {origin: [] for origin in origins}
    for origin, hour, outcome in rows:
        tally[str(origin)][str(outcome)] += 1
        if outcome == "unaccounted" and isinstance(hour, dt.datetime):
            missing[str(origin)].append(hour.astimezone(dt.UTC))
    return [
        AirportHours(
            origin=origin,
            expected=len(hours),
            stored=tally[origin]["stored"],
            rejected=tally[origin]["rejected"],
            reported_missing=tally[origin]["reported_missing"],
            unaccounted=tuple(missing[origin]),
        )
        for origin in origins
    ]


def describe_hour(hour: dt.datetime, timezone: str) -> str:
    """2013-11-04T04:00Z (2013-11-03 23:00 EST): the instant, and the local clock time that names it."""
    local = hour.astimezone(ZoneInfo(timezone))
    return f"{hour.astimezone(dt.UTC):%Y-%m-%dT%H:%MZ} ({local:%Y-%m-%d %H:%M %Z})"


def hour_problems(airports: Sequence[AirportHours], timezone: str) -> list[str]:
    """One problem per airport with hours unaccounted for, naming the airport and (up to NAMED_HOURS) the hours."""
    problems: list[str] = []
    for airport in airports:
        if not airport.unaccounted:
            continue
        named = ", ".join(describe_hour(hour, timezone) for hour in airport.unaccounted[:NAMED_HOURS])
        more = len(airport.unaccounted) - NAMED_HOURS
        problems.append(
            f"{airport.origin}: expected {airport.expected} hours != stored {airport.stored} + rejected "
            f"{airport.rejected} + reported missing {airport.reported_missing}; {len(airport.unaccounted)} "
            f"hour{'s' if len(airport.unaccounted) != 1 else ''} unaccounted for: {named}"
            + (f" and {more} more" if more > 0 else "")
        )
    return problems


def hour_findings(conn: Connection, cfg: WeatherConfig, partition: Partition) -> Findings:
    """The weather check's own reconciliation: per airport, expected hours = stored + rejected + reported missing."""
    airports = account_hours(conn, cfg, partition)
    counts = {
        "hours_expected": sum(a.expected for a in airports),
        "hours_stored": sum(a.stored for a in airports),
        "hours_rejected": sum(a.rejected for a in airports),
        "hours_reported_missing": sum(a.reported_missing for a in airports),
        "hours_unaccounted": sum(len(a.unaccounted) for a in airports),
    }
    return Findings(counts, hour_problems(airports, cfg.timezone))
