"""Weather at departure on the flights fact: one join definition, used by both pipelines.

A flight carries the observation at its origin in the hour of its scheduled departure. The flights
load fills it while inserting the day (a LEFT JOIN, so a flight without an observation keeps nulls);
the weather load refreshes the same day's flights in its own transaction, so whichever pipeline
runs last leaves the fact complete, and a rerun of either leaves the same rows. Flights without an
observation are counted on the day's latest flights run in audit.load_runs (without_weather).
"""

from __future__ import annotations

import datetime as dt

from psycopg import sql

from flightdeck.core.compose import Connection
from flightdeck.core.replace import partition_lock_key

FACT = sql.Identifier("core", "fact_flights")
WEATHER = sql.Identifier("core", "weather_hourly")
# fact column -> core.weather_hourly column
WEATHER_COLUMNS: dict[str, str] = {
    "weather_obs_hour": "obs_hour",
    "weather_temp_f": "temp_f",
    "weather_wind_speed_mph": "wind_speed_mph",
    "weather_precip_in": "precip_in",
    "weather_visib_m": "visib_m",
}


def weather_join(flight: str, weather: str) -> sql.Composed:
    """LEFT JOIN of the observation at the flight's origin in its scheduled departure hour (UTC hours)."""
    return sql.SQL(
        "LEFT JOIN {weather_table} AS {w} ON {w}.origin = {f}.origin AND {w}.obs_hour = "
        "date_trunc('hour', {f}.sched_dep_ts, 'UTC')"
    ).format(weather_table=WEATHER, w=sql.Identifier(weather), f=sql.Identifier(flight))


def weather_values(weather: str) -> sql.Composed:
    """The joined observation's values, in the order of WEATHER_COLUMNS."""
    return sql.SQL(", ").join(
        sql.SQL("{}.{}").format(sql.Identifier(weather), sql.Identifier(column)) for column in WEATHER_COLUMNS.values()
    )


def weather_targets() -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(column) for column in WEATHER_COLUMNS)


def refresh_fact_weather(conn: Connection, start: dt.date, end: dt.date) -> int:
    """Set the weather columns of the flights of local days [start, end); returns the rows changed."""
    statement = sql.SQL(
        "UPDATE {fact} AS t SET ({targets}) = ({values}) "
        "FROM {fact} AS f {join} "
        "WHERE t.ctid = f.ctid AND f.flight_date >= %(start)s AND f.flight_date < %(end)s "
        "AND ({current}) IS DISTINCT FROM ({values})"
    ).format(
        fact=FACT,
        targets=weather_targets(),
        values=weather_values("w"),
        join=weather_join("f", "w"),
        current=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in WEATHER_COLUMNS),
    )
    with conn.cursor() as cur:
        # The flights load of a day holds this lock while it replaces the day: take turns, never deadlock.
        day = start
        while day < end:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (partition_lock_key(FACT.as_string(conn), day),))
            day += dt.timedelta(days=1)
        cur.execute(statement, {"start": start, "end": end})
        changed = cur.rowcount
    record_without_weather(conn, start, end)
    return changed


def count_without_weather(conn: Connection, start: dt.date, end: dt.date) -> int:
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT count(*) FROM {} WHERE flight_date >= %s AND flight_date < %s AND weather_obs_hour IS NULL"
            ).format(FACT),
            (start, end),
        )
        row = cur.fetchone()
    return int(str(row[0])) if row else 0


def record_without_weather(conn: Connection, start: dt.date, end: dt.date) -> None:
    """Recount flights without weather on each day's latest flights run (the one whose rows are loaded)."""
    statement = sql.SQL(
        "UPDATE audit.load_runs AS r SET without_weather = c.missing, updated_at = now() FROM ("
        " SELECT DISTINCT ON (partition_date) partition_date, run_id FROM audit.load_runs"
        " WHERE pipeline = 'flights' AND partition_date >= %(start)s AND partition_date < %(end)s"
        " AND loaded IS NOT NULL ORDER BY partition_date, updated_at DESC"
        ") AS latest JOIN ("
        " SELECT flight_date, count(*) FILTER (WHERE weather_obs_hour IS NULL) AS missing FROM {fact}"
        " WHERE flight_date >= %(start)s AND flight_date < %(end)s GROUP BY flight_date"
        ") AS c ON c.flight_date = latest.partition_date "
        "WHERE r.pipeline = 'flights' AND r.partition_date = latest.partition_date AND r.run_id = latest.run_id "
        "AND r.without_weather IS DISTINCT FROM c.missing"
    ).format(fact=FACT)
    with conn.cursor() as cur:
        cur.execute(statement, {"start": start, "end": end})


def weather_enrichment_columns(weather: str) -> dict[str, sql.Composable]:
    """fact column -> the joined observation's value, for a load that inserts flights."""
    return {
        target: sql.SQL("{}.{}").format(sql.Identifier(weather), sql.Identifier(source))
        for target, source in WEATHER_COLUMNS.items()
    }
