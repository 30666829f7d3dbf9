"""marts.daily_route_performance: rebuilt from core for exactly the days that changed.

The marts DAG learns those days from the asset events that triggered it (each producer names the
partition it replaced in the event's extra) or, for a backfill, from a manual run's conf. A rebuild
replaces the days' rows in one transaction, set-based (DELETE + INSERT ... SELECT), so a rerun
leaves the same rows and readers never see a day half rebuilt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import sql
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from sqlalchemy.engine import URL

from flightdeck.core.db import connect
from flightdeck.core.errors import PermanentPipelineError
from flightdeck.core.logs import stage_log

MART_TABLE = "marts.daily_route_performance"
# The mart's DDL, applied after the warehouse's (it reads core.fact_flights and core.weather_hourly).
DDL: tuple[Path, ...] = (Path(__file__).resolve().parent / "sql" / "marts.sql",)
ON_TIME_MAX_ARR_DELAY_MIN = 15
# The keys a producer puts in an asset event's extra: local days [start, end), ISO dates.
EXTRA_START = "partition_start"
EXTRA_END = "partition_end"
MAX_BACKFILL_DAYS = 3660
# One event names one run's partition, or the days a reference drop re-pointed (possibly years of
# facts): a span beyond this is a bug, not a load.
MAX_EVENT_DAYS = MAX_BACKFILL_DAYS

_MART = sql.Identifier("marts", "daily_route_performance")
_FACT = sql.Identifier("core", "fact_flights")

_DELETE = sql.SQL("DELETE FROM {mart} WHERE flight_date = ANY(%(days)s)").format(mart=_MART)
_INSERT = sql.SQL(
    """INSERT INTO {mart} (
    flight_date, origin, dest, carrier, flights, cancelled, completed, on_time_share,
    dep_delay_mean_min, dep_delay_p90_min, arr_delay_mean_min, arr_delay_p90_min,
    with_weather, temp_mean_f, wind_speed_mean_mph, precip_mean_in, visib_mean_m, known_aircraft, run_id
)
SELECT
    f.flight_date, f.origin, f.dest, f.carrier,
    count(*),
    count(*) FILTER (WHERE f.is_cancelled),
    count(*) FILTER (WHERE f.status = 'completed'),
    avg(CASE WHEN f.arr_delay_min <= %(on_time)s THEN 1.0 ELSE 0.0 END)
        FILTER (WHERE f.status = 'completed' AND f.arr_delay_min IS NOT NULL)::double precision,
    avg(f.dep_delay_min)::double precision,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY f.dep_delay_min),
    avg(f.arr_delay_min)::double precision,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY f.arr_delay_min),
    count(f.weather_obs_hour),
    -- numeric averages: exact, so a rebuild of the same rows gives the same values in any plan
    avg(f.weather_temp_f::numeric)::double precision,
    avg(f.weather_wind_speed_mph::numeric)::double precision,
    avg(f.weather_precip_in::numeric)::double precision,
    avg(f.weather_visib_m::numeric)::double precision,
    count(*) FILTER (WHERE f.aircraft_key <> -1),
    %(run_id)s
FROM {fact} AS f
WHERE f.flight_date = ANY(%(days)s)
GROUP BY f.flight_date, f.origin, f.dest, f.carrier"""
).format(mart=_MART, fact=_FACT)


@dataclass(frozen=True)
class TriggerEvent:
    """An asset event as the mart sees it: the asset, who produced it, and its extra."""

    asset: str
    source: str
    extra: Mapping[str, Any] | None


class MalformedAssetEvent(PermanentPipelineError):
    """An asset event whose extra does not name a partition: the mart cannot tell which days changed."""


def affected_days(events: Iterable[TriggerEvent]) -> list[dt.date]:
    """The sorted, distinct local days that the events' partitions cover.

    Every event must carry {"partition_start": "YYYY-MM-DD", "partition_end": "YYYY-MM-DD"} (end
    exclusive) in its extra, or both keys null when its producer changed no day (such an event adds
    no day). One that does not (an event created by hand in the UI or API, a
    producer without the convention) is a permanent error naming the event: guessing would either
    rebuild nothing or everything. Rebuild such days with a manual run and conf {"start", "end"}.
    """
    days: set[dt.date] = set()
    for event in events:
        window = _event_window(event)
        if window is None:
            continue
        start, end = window
        days.update(start + dt.timedelta(days=offset) for offset in range((end - start).days))
    return sorted(days)


def _event_window(event: TriggerEvent) -> tuple[dt.date, dt.date] | None:
    def fail(problem: str) -> MalformedAssetEvent:
        return MalformedAssetEvent(
            f"asset event of {event.asset} from {event.source}: {problem}; expected extra "
            f'{{"{EXTRA_START}": "YYYY-MM-DD", "{EXTRA_END}": "YYYY-MM-DD"}} (end exclusive). '
            'Rebuild its days with a manual run of marts and conf {"start": ..., "end": ...}'
        )

    extra = event.extra or {}
    missing = [key for key in (EXTRA_START, EXTRA_END) if key not in extra]
    if missing:
        raise fail(f"extra {dict(extra)!r} has no {' or '.join(missing)}")
    if extra[EXTRA_START] is None and extra[EXTRA_END] is None:
        return None  # the producer changed no day (e.g. a reference drop that re-pointed no fact)
    bounds: list[dt.date] = []
    for key in (EXTRA_START, EXTRA_END):
        value = extra[key]
        try:
            if not isinstance(value, str):
                raise ValueError
            bounds.append(dt.date.fromisoformat(value))
        except ValueError:
            raise fail(f"{key} {value!r} is not a date (YYYY-MM-DD)") from None
    start, end = bounds
    if end <= start:
        raise fail(f"{EXTRA_END} {end} is not after {EXTRA_START} {start}")
    if (end - start).days > MAX_EVENT_DAYS:
        raise fail(f"it spans {(end - start).days} days, more than {MAX_EVENT_DAYS}")
    return start, end


class BackfillRange(BaseModel):
    """A manual run's conf: rebuild the local days start..end, both inclusive (like `etl backfill`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: dt.date
    end: dt.date

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        if not isinstance(value, str):
            raise ValueError("must be a date string YYYY-MM-DD")
        return dt.date.fromisoformat(value)

    @model_validator(mode="after")
    def _ordered(self) -> BackfillRange:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if (self.end - self.start).days >= MAX_BACKFILL_DAYS:
            raise ValueError(f"more than {MAX_BACKFILL_DAYS} days: split the backfill")
        return self

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def days_from_conf(conf: Mapping[str, Any]) -> list[dt.date]:
    """The days of a manual run's conf {"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}; [] without one.

    Keys left empty (null, as the trigger form sends them) count as absent.
    """
    given = {key: value for key, value in conf.items() if value is not None}
    if not given:
        return []
    try:
        return BackfillRange.model_validate(given).days()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'conf'}: {err['msg']}" for err in exc.errors()
        )
        raise PermanentPipelineError(
            f'invalid conf {given!r} for the marts DAG: {problems} (expected {{"start": "YYYY-MM-DD", '
            '"end": "YYYY-MM-DD"}, both inclusive)'
        ) from None


def rebuild_daily_route_performance(
    warehouse_url: URL,
    days: Sequence[dt.date],
    *,
    run_id: str = "manual",
    log_context: Mapping[str, Any] | None = None,
) -> int:
    """Replace the mart's rows of exactly these days from core; returns the rows written.

    One transaction (delete + insert ... select), serialised across processes by an advisory lock,
    so concurrent rebuilds of overlapping days cannot collide on the primary key.
    """
    wanted = sorted(set(days))
    context: dict[str, Any] = {
        "mart": MART_TABLE,
        "first_day": wanted[0].isoformat() if wanted else None,
        "last_day": wanted[-1].isoformat() if wanted else None,
        "days": len(wanted),
        "run_id": run_id,
        **(log_context or {}),
    }
    with stage_log("mart", context) as counts:
        if not wanted:
            return 0
        params = {"days": wanted, "run_id": run_id, "on_time": ON_TIME_MAX_ARR_DELAY_MIN}
        with connect(warehouse_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"flightdeck:{MART_TABLE}",))
            cur.execute(_DELETE, params)
            deleted = cur.rowcount
            cur.execute(_INSERT, params)
            written = cur.rowcount
        counts.records_out = written
        counts.extra["replaced_rows"] = deleted
    return written
