"""Fact-key resolution: point every fact at the dimension rows its codes name now.

Run after the reference sources changed the dimensions (the reference_data DAG): flights loaded
before a member arrived carry the 'unknown' key, flights after a type-2 change the version that was
current when they loaded, flights to an airport whose zone was unknown no arrival instant.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.core import audit
from flightdeck.core.compose import exists
from flightdeck.core.config import PipelineSettings
from flightdeck.core.db import connect
from flightdeck.core.logs import stage_log
from flightdeck.core.partition import Partition
from flightdeck.core.stage import Pipeline, StageContext
from flightdeck.core.timesql import localized

# Its runs in audit.load_runs.
PIPELINE = "reference.fact_keys"


@dataclass(frozen=True)
class ResolvedKeys:
    """Facts re-pointed at the right dimension rows, and the local days they belong to."""

    facts: int
    first_day: dt.date | None
    last_day: dt.date | None

    def changed_days(self) -> tuple[dt.date, dt.date] | None:
        """The days whose facts changed, [first, last + 1): what the dimensions' asset event names."""
        if self.first_day is None or self.last_day is None:
            return None
        return self.first_day, self.last_day + dt.timedelta(days=1)


# The arrival instant is the arrival wall time read in the destination's zone, as the transform
# computes it (localized, the same SQL); it follows the airport dimension like the keys do, so a late
# destination gets its flights' arr_ts. An instant not after departure is not stored (the load would
# have rejected it): arr_ts stays null, like a flight to an airport without a known zone.
_ARRIVAL = localized(sql.SQL("f.arr_local"), sql.SQL("nullif(d.tzone, '')"))
_RESOLVE = sql.SQL(
    """WITH computed AS (
    SELECT f.ctid AS row_id, f.dep_ts,
           coalesce(o.airport_key, -1) AS origin_airport_key,
           coalesce(d.airport_key, -1) AS dest_airport_key,
           coalesce(c.carrier_key, -1) AS carrier_key,
           coalesce(a.aircraft_key, -1) AS aircraft_key,
           {arrival} AS arrival
    FROM {fact} f
    LEFT JOIN {airport} o ON o.faa = f.origin AND o.airport_key >= 0
    LEFT JOIN {airport} d ON d.faa = f.dest AND d.airport_key >= 0
    LEFT JOIN {carrier} c ON c.carrier = f.carrier AND c.carrier_key >= 0
    LEFT JOIN {aircraft} a ON a.tailnum = f.tailnum AND a.aircraft_key >= 0
        AND a.valid_from <= f.flight_date AND f.flight_date < a.valid_to
    OFFSET 0
), resolved AS (
    SELECT row_id, origin_airport_key, dest_airport_key, carrier_key, aircraft_key,
           CASE WHEN dep_ts IS NULL OR arrival > dep_ts THEN arrival END AS arr_ts
    FROM computed
)
UPDATE {fact} f
SET origin_airport_key = r.origin_airport_key, dest_airport_key = r.dest_airport_key,
    carrier_key = r.carrier_key, aircraft_key = r.aircraft_key, arr_ts = r.arr_ts
FROM resolved r
WHERE f.ctid = r.row_id
  AND (f.origin_airport_key, f.dest_airport_key, f.carrier_key, f.aircraft_key, f.arr_ts)
      IS DISTINCT FROM (r.origin_airport_key, r.dest_airport_key, r.carrier_key, r.aircraft_key, r.arr_ts)
RETURNING f.flight_date"""
).format(
    arrival=_ARRIVAL,
    fact=sql.Identifier("core", "fact_flights"),
    airport=sql.Identifier("core", "dim_airport"),
    carrier=sql.Identifier("core", "dim_carrier"),
    aircraft=sql.Identifier("core", "dim_aircraft"),
)


def resolve_fact_keys(warehouse: URL, partition: Partition) -> ResolvedKeys:
    """Point every fact at the dimension rows its codes name now (late members, type-2 versions).

    Flights loaded before a member arrived carry the 'unknown' key; flights on or after a type-2
    change carry the version that was current when they loaded; flights to an airport whose zone was
    unknown have no arrival instant (arr_ts). One set-based UPDATE fixes all three and touches only
    facts whose values change, so a rerun changes nothing.
    """
    step = (
        partition
        if partition.pipeline == PIPELINE
        else Partition(PIPELINE, partition.start, partition.end, partition.dag_id, partition.run_id)
    )
    started = time.perf_counter()
    with stage_log("resolve_fact_keys", step.log_context()) as counts, connect(warehouse) as wh:
        days: list[dt.date] = []
        if exists(wh, "core.fact_flights"):
            with wh.cursor() as cur:
                cur.execute(_RESOLVE)
                days = [day for (day,) in cur.fetchall() if isinstance(day, dt.date)]
        # Same transaction: the audit row says how many facts this run re-pointed (loaded).
        audit.record_run(
            wh, step, status="success", error=None, loaded=len(days), load_s=round(time.perf_counter() - started, 3)
        )
        counts.records_out = len(days)
        first, last = (min(days), max(days)) if days else (None, None)
        counts.extra.update(
            {"first_day": first.isoformat() if first else None, "last_day": last.isoformat() if last else None}
        )
    return ResolvedKeys(len(days), first, last)


def _resolve(ctx: StageContext[PipelineSettings]) -> ResolvedKeys:
    return resolve_fact_keys(ctx.warehouse, ctx.partition)


# As a pipeline of its own (one stage), run after the reference pipelines changed the dimensions.
RESOLVE = Pipeline[PipelineSettings](
    name=PIPELINE, stages={"resolve": _resolve}, timezone=lambda settings: settings.timezone
)
