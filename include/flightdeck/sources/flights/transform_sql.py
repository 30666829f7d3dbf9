"""The flights transform as set-based SQL inside the warehouse: raw staging in, clean staging out.

The same fact rows as facts.py `to_fact` (the readable specification, and the oracle of
tests/integration/test_sql_transform.py), computed by PostgreSQL for a whole partition at once:

- validation is SOURCE_CHECKS / FACT_CHECKS (checks.py), the models' own rules as SQL;
  rows they reject are recorded in a small rejects table by ctid, for Python to explain with the
  models themselves;
- dimension keys come from LEFT JOINs (airports on faa, carriers on carrier, aircraft on tailnum and
  the type-2 version valid on the flight's date); a code the dimension lacks gets the unknown member -1;
- local clock times become timestamps with the same arithmetic as `wall_clock`, and instants with
  `localized`, which resolves the daylight-saving gap and overlap exactly as `localize` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from psycopg import sql

from flightdeck.core.sqlchecks import columns_of
from flightdeck.core.timesql import localized, readings, resolve
from flightdeck.sources.flights.checks import FACT_CHECKS, SOURCE_CHECKS
from flightdeck.sources.flights.facts import UNKNOWN_KEY
from flightdeck.sources.flights.schemas import MINUTES_PER_DAY

POST_EXTRACT = "post_extract"
POST_TRANSFORM = "post_transform"
AIRPORTS = sql.Identifier("core", "dim_airport")
CARRIERS = sql.Identifier("core", "dim_carrier")
AIRCRAFT = sql.Identifier("core", "dim_aircraft")


def _minutes(hhmm: sql.Composable) -> sql.Composed:
    """hhmm_to_minutes: an HHMM clock time as minutes after midnight (2400 is 1440)."""
    return sql.SQL("({0} / 100 * 60 + mod({0}, 100))").format(hhmm)


def _floor_days(minutes: sql.Composable) -> sql.Composed:
    """minutes // MINUTES_PER_DAY, rounding down like Python (SQL's integer division truncates)."""
    return sql.SQL(
        "(CASE WHEN {0} >= 0 THEN {0} / %(minutes_per_day)s "
        "ELSE -((%(minutes_per_day)s - 1 - {0}) / %(minutes_per_day)s) END)"
    ).format(minutes)


# Fact columns that are source columns copied unchanged: where the two models constrain them alike,
# the source checks have already checked the value and the fact checks need not check it again.
COPIED_FROM_SOURCE: dict[str, str] = {
    "origin": "origin",
    "carrier": "carrier",
    "flight": "flight",
    "dest": "dest",
    "tailnum": "tailnum",
    "dep_delay_min": "dep_delay",
    "arr_delay_min": "arr_delay",
    "air_time_min": "air_time",
    "distance_mi": "distance",
    "source_flight_id": "flight_id",
}
FACT_CHECKS_AFTER_SOURCE = FACT_CHECKS.without_fields(
    name
    for name, source in COPIED_FROM_SOURCE.items()
    if FACT_CHECKS.field(name).same_constraint(SOURCE_CHECKS.field(source))
)


def require_staging_columns(source_types: Mapping[str, str], fact_types: Mapping[str, str]) -> None:
    """Fail unless raw and clean staging have every model field, of a type its checks were written for."""
    SOURCE_CHECKS.require_columns(source_types)
    FACT_CHECKS.require_columns(fact_types)


@dataclass(frozen=True)
class SqlTransform:
    """The statements that transform one partition's raw staging table into its clean staging table.

    `rejects` is a scratch table (raw_ctid tid, stage text) of the raw rows the checks reject, made by
    reject_sources() before the facts are computed. Every statement takes params(): the origin's
    zone is a bind parameter, identifiers are composed.
    """

    raw: sql.Identifier
    clean: sql.Identifier
    rejects: sql.Identifier
    fact_columns: Sequence[str]
    timezone: str

    def params(self) -> dict[str, object]:
        return {
            **SOURCE_CHECKS.params(timezone=self.timezone),
            **FACT_CHECKS.params(),
            "unknown_key": UNKNOWN_KEY,
            "minutes_per_day": MINUTES_PER_DAY,
        }

    def reject_sources(self) -> sql.Composed:
        """Create the rejects table (temporary, dropped at the end of the transaction) with the raw rows
        SourceFlight would reject, stage post_extract. CREATE TABLE AS, unlike INSERT, lets PostgreSQL
        check the raw table with parallel workers."""
        return sql.SQL(
            "CREATE TEMP TABLE {rejects} ON COMMIT DROP AS "
            "SELECT r.ctid AS raw_ctid, {stage}::text AS stage FROM {raw} r WHERE NOT {ok}"
        ).format(
            rejects=self.rejects,
            stage=sql.Literal(POST_EXTRACT),
            raw=self.raw,
            ok=SOURCE_CHECKS.verdict(columns_of("r")),
        )

    def insert_facts(self) -> sql.Composed:
        """Clean staging gets the fact of every row that passed the source checks, unless FactFlight
        would reject it."""
        return sql.SQL("INSERT INTO {clean} ({columns}) SELECT {columns} FROM ({facts}) f WHERE {ok}").format(
            clean=self.clean,
            columns=sql.SQL(", ").join(sql.Identifier(name) for name in self.fact_columns),
            facts=self.facts(),
            ok=FACT_CHECKS_AFTER_SOURCE.verdict(columns_of("f")),
        )

    def reject_facts(self) -> sql.Composed:
        """Record the raw rows whose facts FactFlight would reject (stage post_transform)."""
        return sql.SQL(
            "INSERT INTO {rejects} (raw_ctid, stage) SELECT f.raw_ctid, {stage} FROM ({facts}) f WHERE NOT {ok}"
        ).format(
            rejects=self.rejects,
            stage=sql.Literal(POST_TRANSFORM),
            facts=self.facts(),
            ok=FACT_CHECKS_AFTER_SOURCE.verdict(columns_of("f")),
        )

    def failed_source_checks(self) -> sql.Composed:
        """The names of the source checks one raw row fails (parameter raw_ctid): diagnostics."""
        return sql.SQL("SELECT {failed} FROM {raw} r WHERE r.ctid = %(raw_ctid)s").format(
            failed=SOURCE_CHECKS.failed(columns_of("r")), raw=self.raw
        )

    def failed_fact_checks(self) -> sql.Composed:
        """The names of the fact checks one raw row's fact fails (parameter raw_ctid): diagnostics."""
        return sql.SQL("SELECT {failed} FROM ({facts}) f WHERE f.raw_ctid = %(raw_ctid)s").format(
            failed=FACT_CHECKS.failed(columns_of("f")), facts=self.facts()
        )

    def facts(self) -> sql.Composed:
        """raw_ctid and the fact columns of every raw row that passed the source checks.

        Layered subqueries, each fenced with OFFSET 0 so that PostgreSQL computes a value once per row
        instead of inlining its expression wherever it is used: the rows that passed the source checks
        (nothing reads a rejected row, whose values may not even form a date); their dimension keys and
        local times; the departure instant and arrival wall time; the arrival's readings; the facts.
        """
        r = columns_of("r")
        sched_dep = _minutes(r("sched_dep_time"))
        dep = _minutes(r("dep_time"))
        valid = sql.SQL(
            "SELECT r.ctid AS raw_ctid, r.*, make_date(r.year, r.month, r.day) AS flight_date FROM {raw} r "
            "WHERE NOT EXISTS (SELECT FROM {rejects} j WHERE j.raw_ctid = r.ctid AND j.stage = {stage}) OFFSET 0"
        ).format(raw=self.raw, rejects=self.rejects, stage=sql.Literal(POST_EXTRACT))
        local = sql.SQL(
            "SELECT r.raw_ctid, r.origin, r.carrier, r.flight, r.dest, r.tailnum, r.flight_date, "
            "r.time_hour + make_interval(mins => r.minute) AS sched_dep_ts, "
            "coalesce(ao.airport_key, %(unknown_key)s) AS origin_airport_key, "
            "coalesce(ad.airport_key, %(unknown_key)s) AS dest_airport_key, "
            "coalesce(c.carrier_key, %(unknown_key)s) AS carrier_key, "
            "coalesce(ac.aircraft_key, %(unknown_key)s) AS aircraft_key, "
            "CASE WHEN r.dep_time IS NULL THEN 'cancelled' "
            "WHEN r.arr_time IS NULL OR r.arr_delay IS NULL THEN 'diverted' ELSE 'completed' END AS status, "
            "r.dep_time IS NULL AS is_cancelled, "
            "r.flight_date + make_interval(mins => {sched_dep}) AS sched_dep_local, "
            "r.flight_date + make_interval(mins => {sched_arr} "
            "+ CASE WHEN r.sched_arr_time < r.sched_dep_time THEN %(minutes_per_day)s ELSE 0 END) AS sched_arr_local, "
            # The delay says how many midnights lie between the scheduled and the actual clock time.
            "CASE WHEN r.dep_time IS NOT NULL AND r.dep_delay IS NOT NULL "
            "THEN (r.flight_date + {day_offset}) + make_interval(mins => {dep}) END AS dep_local, "
            "r.time_hour + make_interval(mins => r.minute + r.dep_delay) AS dep_expected, "
            "{arr} AS arr_minutes, nullif(ad.tzone, '') AS dest_zone, "
            "r.dep_delay AS dep_delay_min, r.arr_delay AS arr_delay_min, r.air_time AS air_time_min, "
            "r.distance AS distance_mi, r.flight_id AS source_flight_id "
            "FROM ({valid}) r "
            "LEFT JOIN {airports} ao ON ao.faa = r.origin AND ao.airport_key >= 0 "
            "LEFT JOIN {airports} ad ON ad.faa = r.dest AND ad.airport_key >= 0 "
            "LEFT JOIN {carriers} c ON c.carrier = r.carrier AND c.carrier_key >= 0 "
            "LEFT JOIN {aircraft} ac ON ac.tailnum = r.tailnum AND ac.aircraft_key >= 0 "
            "AND ac.valid_from <= r.flight_date AND r.flight_date < ac.valid_to "
            "OFFSET 0"
        ).format(
            sched_dep=sched_dep,
            sched_arr=_minutes(r("sched_arr_time")),
            day_offset=_floor_days(sql.SQL("({} + r.dep_delay - {})").format(sched_dep, dep)),
            dep=dep,
            arr=_minutes(r("arr_time")),
            valid=valid,
            airports=AIRPORTS,
            carriers=CARRIERS,
            aircraft=AIRCRAFT,
        )
        # An arrival clock time earlier than the departure's is on the next day.
        arrival = sql.SQL("(s.dep_local::date + make_interval(mins => s.arr_minutes))")
        departed = sql.SQL(
            "SELECT s.*, CASE WHEN {arrival} < s.dep_local THEN {arrival} + interval '1 day' ELSE {arrival} END "
            "AS arr_local, {dep_ts} AS dep_ts FROM ({local}) s OFFSET 0"
        ).format(
            arrival=arrival,
            dep_ts=localized(sql.SQL("s.dep_local"), sql.Placeholder("timezone"), near=sql.SQL("s.dep_expected")),
            local=local,
        )
        arr_before, arr_after = readings(sql.SQL("d.arr_local"), sql.SQL("d.dest_zone"))
        arriving = sql.SQL(
            "SELECT d.*, {before} AS arr_before, {after} AS arr_after FROM ({departed}) d OFFSET 0"
        ).format(before=arr_before, after=arr_after, departed=departed)
        a = columns_of("a")
        expressions: dict[str, sql.Composable] = {name: a(name) for name in self.fact_columns}
        expressions["arr_ts"] = resolve(a("arr_local"), a("dest_zone"), a("arr_before"), a("arr_after"))
        return sql.SQL("SELECT a.raw_ctid, {columns} FROM ({arriving}) a OFFSET 0").format(
            columns=sql.SQL(", ").join(
                sql.SQL("{} AS {}").format(expressions[name], sql.Identifier(name)) for name in self.fact_columns
            ),
            arriving=arriving,
        )
