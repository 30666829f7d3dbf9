"""Run the benchmark: per size, generate the partition, then interleave the methods over the repeats.

Interleaving (for repeat: for method) spreads any drift of the shared machine (another process,
autovacuum, a warm cache) over all methods instead of charging it to one. Each figure is the median
of the repeats.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig, ensure_warehouse
from flightdeck.core.db import connect
from flightdeck.core.errors import PermanentPipelineError
from flightdeck.core.paths import PACKAGE_DIR, config_path
from flightdeck.core.stage import Endpoints
from flightdeck_tools.bench import data, methods, report
from flightdeck_tools.bench.models import (
    METHODS,
    PIPELINE_METHODS,
    BenchResults,
    Method,
    MethodRun,
    MethodSummary,
    SizeResult,
    Stage,
    StageSummary,
    Status,
    Target,
)
from flightdeck_tools.bench.worker import UrlParts, WorkerSpec
from flightdeck_tools.devenv import conn_var

DEFAULT_SIZES = (100_000, 1_000_000, 5_000_000)
DEFAULT_REPEATS = 3
# to_sql, to_sql_psycopg2 and insert_rows move at most this many rows; their time is scaled to the partition.
DEFAULT_SAMPLE_CAP = 100_000
# The Airflow connection PostgresHook.insert_rows uses (set only in the worker's environment).
HOOK_CONN_ID = "flightdeck_bench_warehouse"
LOCK_KEY = "flightdeck:bench"
STAGES: tuple[Stage, ...] = ("extract", "transform", "load", "check")

# The targets.
TARGET_SIZE = 1_000_000
RSS_SIZE = 5_000_000
MAX_RATIO_TO_COPY = 3.0
MIN_SPEEDUP_OVER_TO_SQL = 15.0
MAX_PEAK_RSS_MB = 600.0
FLAT_TOLERANCE = 0.25
FLAT_FROM_ROWS = 100_000


@dataclass(frozen=True)
class BenchOptions:
    sizes: Sequence[int] = DEFAULT_SIZES
    repeats: int = DEFAULT_REPEATS
    output: Path | None = None
    doc: Path | None = None
    methods: Sequence[Method] = METHODS
    sample_cap: int = DEFAULT_SAMPLE_CAP
    day: dt.date = data.BENCH_DAY
    command: str = "etl bench"
    # Remove the bench day from source and warehouse, and the comparison tables, afterwards.
    cleanup: bool = True


def parse_sizes(text: str) -> tuple[int, ...]:
    """'100000,1000000' or '100k,1M' -> (100000, 1000000)."""
    sizes: list[int] = []
    for part in text.split(","):
        item = part.strip().lower().replace("_", "")
        scale = {"k": 1_000, "m": 1_000_000}.get(item[-1:], 1)
        digits = item[:-1] if scale != 1 else item
        if not digits.isdigit() or int(digits) * scale < 1:
            raise ValueError(f"{part.strip()!r} is not a positive row count")
        sizes.append(int(digits) * scale)
    return tuple(sizes)


def airflow_uri(url: URL) -> str:
    """The warehouse URL as an AIRFLOW_CONN_* URI (a socket directory as a percent-encoded host)."""
    query = {key: value if isinstance(value, str) else value[-1] for key, value in url.query.items()}
    host = url.host or query.pop("host", "")
    credentials = quote(url.username or "", safe="")
    if url.password:
        credentials += ":" + quote(url.password, safe="")
    netloc = f"{credentials}@{quote(host, safe='')}" + (f":{url.port}" if url.port else "")
    tail = f"?{urlencode(query)}" if query else ""
    return f"postgresql://{netloc}/{quote(url.database or '', safe='')}{tail}"


def code_fingerprint() -> str:
    """sha256 over the flightdeck sources (bench excluded) and the configuration the workers use."""
    digest = hashlib.sha256()
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    for path in [*files, *sorted(PACKAGE_DIR.rglob("*.sql")), config_path()]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_worker(spec: WorkerSpec, workdir: Path, env: dict[str, str]) -> MethodRun:
    """One method run in a fresh interpreter; raises with the worker's last log lines if it fails."""
    name = f"{spec.method}-{spec.rows}-{spec.repeat}"
    spec_path = workdir / f"{name}.spec.json"
    out_path = workdir / f"{name}.result.json"
    spec_path.write_text(spec.model_dump_json(), encoding="utf-8")
    spec_path.chmod(0o600)  # it holds the connection URLs
    try:
        result = subprocess.run(  # noqa: S603 - this interpreter and a fixed module
            [sys.executable, "-m", "flightdeck_tools.bench.worker", str(spec_path), str(out_path)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        spec_path.unlink(missing_ok=True)
    if result.returncode != 0 or not out_path.exists():
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        # The CLI prints a message's first line: lead with the worker's last line (its exception).
        last = lines[-1].strip() if lines else "no output"
        tail = "\n".join(lines[-12:])
        raise PermanentPipelineError(
            f"bench {spec.method} at {spec.rows:,} rows failed (exit {result.returncode}): {last}\n{tail}"
        )
    run = MethodRun.model_validate_json(out_path.read_text(encoding="utf-8"))
    out_path.unlink()
    return run


def summarize(rows: int, generated: int, generate_s: float, runs: Sequence[MethodRun]) -> SizeResult:
    """Medians per method over the repeats; ratios against copy_pk's median."""
    by_method: dict[Method, list[MethodRun]] = {}
    for run in runs:
        by_method.setdefault(run.method, []).append(run)
    medians = {method: statistics.median(run.full_seconds for run in found) for method, found in by_method.items()}
    copy_s = medians.get("copy_pk")
    summaries: list[MethodSummary] = []
    for method in METHODS:
        found = by_method.get(method)
        if not found:
            continue
        median_s = medians[method]
        sampled = [run for run in found if run.sampled]
        stages: list[StageSummary] = []
        for stage in STAGES:
            timings = [timing for run in found for timing in run.stages if timing.stage == stage]
            if timings:
                stage_s = statistics.median(timing.seconds for timing in timings)
                stage_rows = statistics.median(timing.rows for timing in timings)
                stages.append(StageSummary(stage=stage, median_seconds=stage_s, rows_per_s=_rate(stage_rows, stage_s)))
        summaries.append(
            MethodSummary(
                method=method,
                rows=generated,
                runs=len(found),
                median_seconds=median_s,
                rows_per_s=_rate(generated, median_s),
                us_per_row=median_s / max(generated, 1) * 1e6,
                ratio_to_copy_pk=median_s / copy_s if copy_s else None,
                peak_rss_mb=max(run.peak_rss_mb for run in found),
                start_rss_mb=statistics.median(run.start_rss_mb for run in found),
                extrapolated=bool(sampled),
                sample_rows=min(run.measured_rows for run in sampled) if sampled else None,
                stages=tuple(stages),
            )
        )
    return SizeResult(
        rows=rows, generated_rows=generated, generate_seconds=generate_s, methods=tuple(summaries), runs=tuple(runs)
    )


def _rate(rows: float, seconds: float) -> float:
    return rows / seconds if seconds > 0 else 0.0


def _at(sizes: Sequence[SizeResult], wanted: int) -> tuple[SizeResult | None, str]:
    """The size result a target names, else the largest measured, with a label saying which."""
    for size in sizes:
        if size.rows == wanted:
            return size, f"at {wanted:,} rows"
    if not sizes:
        return None, "nothing measured"
    largest = max(sizes, key=lambda size: size.rows)
    return largest, f"at {largest.rows:,} rows ({wanted:,} not measured)"


def evaluate_targets(sizes: Sequence[SizeResult]) -> tuple[Target, ...]:
    targets: list[Target] = []

    def add(name: str, requirement: str, ok: bool | None, measured: str) -> None:
        status: Status = "N/A" if ok is None else "PASS" if ok else "FAIL"
        targets.append(Target(name=name, requirement=requirement, status=status, measured=measured))

    size, where = _at(sizes, TARGET_SIZE)
    pipe = size.method("pipeline") if size else None
    copy = size.method("copy_pk") if size else None
    requirement = f"1M rows end to end within {MAX_RATIO_TO_COPY:g}x of COPY with the primary key"
    if pipe and copy:
        ratio = pipe.median_seconds / copy.median_seconds
        add(
            "end_to_end_vs_copy",
            requirement,
            ratio <= MAX_RATIO_TO_COPY,
            f"{ratio:.2f}x ({pipe.median_seconds:.2f} s vs {copy.median_seconds:.2f} s) {where}",
        )
    else:
        add("end_to_end_vs_copy", requirement, None, "not measured")
    # The issue quotes to_sql on both drivers; each gets its own line.
    to_sql_methods: tuple[tuple[str, Method, str], ...] = (
        ("end_to_end_vs_to_sql", "to_sql", "psycopg 3"),
        ("end_to_end_vs_to_sql_psycopg2", "to_sql_psycopg2", "psycopg2"),
    )
    for name, method, driver in to_sql_methods:
        requirement = (
            f"1M rows end to end at least {MIN_SPEEDUP_OVER_TO_SQL:g}x faster than DataFrame.to_sql ({driver})"
        )
        to_sql = size.method(method) if size else None
        if pipe and to_sql:
            speedup = to_sql.median_seconds / pipe.median_seconds
            label = " (to_sql extrapolated)" if to_sql.extrapolated else ""
            add(
                name,
                requirement,
                speedup >= MIN_SPEEDUP_OVER_TO_SQL,
                f"{speedup:.2f}x ({to_sql.median_seconds:.2f} s vs {pipe.median_seconds:.2f} s){label} {where}",
            )
        else:
            add(name, requirement, None, "not measured")

    def pipeline_rss(result: SizeResult) -> float | None:
        found = [summary.peak_rss_mb for summary in result.methods if summary.method in PIPELINE_METHODS]
        return max(found) if found else None

    size, where = _at(sizes, RSS_SIZE)
    rss = pipeline_rss(size) if size else None
    add(
        "peak_rss",
        f"pipeline peak RSS at 5M rows <= {MAX_PEAK_RSS_MB:g} MB",
        None if rss is None else rss <= MAX_PEAK_RSS_MB,
        "not measured" if rss is None else f"{rss:.0f} MB {where}",
    )
    # The reject path streams like the load path: a day rejected wholesale stays within the same bound.
    rejected = size.method("pipeline_rejected") if size else None
    add(
        "peak_rss_rejected",
        f"peak RSS <= {MAX_PEAK_RSS_MB:g} MB for an all-rejected day",
        None if rejected is None else rejected.peak_rss_mb <= MAX_PEAK_RSS_MB,
        "not measured" if rejected is None else f"{rejected.peak_rss_mb:.0f} MB {where}",
    )

    rss_by_size = [
        (result.rows, rss) for result in sorted(sizes, key=lambda s: s.rows) if (rss := pipeline_rss(result))
    ]
    if len(rss_by_size) >= 2:
        (small, small_rss), (large, large_rss) = rss_by_size[0], rss_by_size[-1]
        growth = large_rss / small_rss - 1
        add(
            "rss_flat",
            f"pipeline peak RSS not growing with partition size (largest within {FLAT_TOLERANCE:.0%} of smallest)",
            growth <= FLAT_TOLERANCE,
            f"{small_rss:.0f} MB at {small:,} -> {large_rss:.0f} MB at {large:,} ({growth:+.0%})",
        )
    else:
        add("rss_flat", "pipeline peak RSS not growing with partition size", None, "needs two sizes")

    costs = [
        (result.rows, pipe_summary.us_per_row)
        for result in sorted(sizes, key=lambda s: s.rows)
        if result.rows >= FLAT_FROM_ROWS and (pipe_summary := result.method("pipeline"))
    ]
    if len(costs) >= 2:
        cheapest = min(cost for _, cost in costs)
        spread = max(cost for _, cost in costs) / cheapest - 1
        add(
            "cost_per_row_flat",
            f"pipeline cost per row flat from 100k to 5M rows (within {FLAT_TOLERANCE:.0%})",
            spread <= FLAT_TOLERANCE,
            ", ".join(f"{cost:.1f} us/row at {rows:,}" for rows, cost in costs) + f" (spread {spread:.0%})",
        )
    else:
        add("cost_per_row_flat", "pipeline cost per row flat from 100k to 5M rows", None, "needs two sizes >= 100k")

    reruns = [
        (result.rows, rerun.median_seconds / first.median_seconds)
        for result in sorted(sizes, key=lambda s: s.rows)
        if (first := result.method("pipeline")) and (rerun := result.method("pipeline_rerun"))
    ]
    add(
        "rerun_no_dearer",
        "a rerun of an unchanged partition costs no more than the first run",
        all(ratio <= 1.0 for _, ratio in reruns) if reruns else None,
        ", ".join(f"rerun/first {ratio:.2f}x at {rows:,}" for rows, ratio in reruns) or "not measured",
    )
    return tuple(targets)


def run_benchmark(
    endpoints: Endpoints, project: ProjectConfig, options: BenchOptions, echo: Callable[[str], None] = print
) -> BenchResults:
    """Measure every method at every size; write results.json and the doc section when asked."""
    chosen: list[Method] = [method for method in METHODS if method in options.methods]
    if "pipeline_rerun" in chosen and "pipeline" not in chosen:
        raise ValueError("pipeline_rerun reruns the partition that pipeline loaded: include pipeline")
    if options.repeats < 1 or not options.sizes:
        raise ValueError("give at least one size and one repeat")
    started = time.perf_counter()
    load_start = os.getloadavg()
    fingerprint = code_fingerprint()
    ensure_warehouse(endpoints.warehouse, project.staging_schema)
    machine = report.describe_machine(endpoints)
    echo(f"bench day {options.day}, sizes {', '.join(f'{s:,}' for s in options.sizes)}, {options.repeats} repeats")
    env = dict(os.environ)
    env[conn_var(HOOK_CONN_ID)] = airflow_uri(endpoints.warehouse)
    with exclusive(endpoints.require_source(), "source"), exclusive(endpoints.warehouse, "warehouse"):
        try:
            sizes = _measure(endpoints, project, options, chosen, env, echo)
        finally:
            if options.cleanup:
                cleanup(endpoints, project, options.day)
    changed = code_fingerprint() != fingerprint
    if changed:
        echo("warning: flightdeck's sources changed during the run: the figures may mix two versions")
    results = BenchResults(
        generated_at=dt.datetime.now(dt.UTC),
        command=options.command,
        bench_day=options.day,
        repeats=options.repeats,
        sample_cap=options.sample_cap,
        chunk_rows=project.pipeline("flights").chunk_rows,
        methods=tuple(chosen),
        machine=machine,
        code_fingerprint=fingerprint,
        code_changed_during_run=changed,
        total_seconds=time.perf_counter() - started,
        load_average_start=load_start,
        load_average_end=os.getloadavg(),
        sizes=tuple(sizes),
        targets=evaluate_targets(sizes),
    )
    if options.output is not None:
        write_results(options.output, results)
        echo(f"wrote {options.output}")
    if options.doc is not None:
        report.write_doc(options.doc, results)
        echo(f"wrote {options.doc}")
    echo(report.summary_text(results))
    return results


def _measure(
    endpoints: Endpoints,
    project: ProjectConfig,
    options: BenchOptions,
    chosen: Sequence[Method],
    env: dict[str, str],
    echo: Callable[[str], None],
) -> list[SizeResult]:
    """Per size: generate the partition, then `for repeat: for method:` one worker each."""
    timezone = project.pipeline("flights").timezone
    sizes: list[SizeResult] = []
    with tempfile.TemporaryDirectory(prefix="flightdeck-bench-") as workdir:
        for rows in options.sizes:
            generate_start = time.perf_counter()
            generated = data.generate_partition(endpoints.require_source(), rows, timezone, options.day)
            generate_s = time.perf_counter() - generate_start
            echo(f"{rows:,} rows: generated in {generate_s:.1f} s")
            if "pipeline_rejected" in chosen:
                data.generate_rejected_partition(endpoints.require_source(), rows, timezone, options.day)
                echo(f"{rows:,} rows of {data.rejected_day(options.day)}, every one invalid: generated")
            runs: list[MethodRun] = []
            for repeat in range(options.repeats):
                for method in chosen:
                    day = data.rejected_day(options.day) if method == "pipeline_rejected" else options.day
                    if method in ("pipeline", "pipeline_rejected"):
                        methods.reset_warehouse_day(endpoints.warehouse, project, day)
                    spec = WorkerSpec(
                        method=method,
                        repeat=repeat,
                        rows=generated,
                        day=day,
                        run_id=f"bench__{rows}",
                        sample_cap=options.sample_cap,
                        hook_conn_id=HOOK_CONN_ID,
                        source=UrlParts.of(endpoints.require_source()),
                        warehouse=UrlParts.of(endpoints.warehouse),
                    )
                    run = run_worker(spec, Path(workdir), env)
                    runs.append(run)
                    echo(report.run_line(run))
            sizes.append(summarize(rows, generated, generate_s, runs))
    return sizes


@contextmanager
def exclusive(database: URL, role: str = "source") -> Generator[None]:
    """One benchmark at a time per database: two would generate and delete the same bench day under each other.

    The role is part of the lock, so one database serving as both source and warehouse still works.
    """
    key = f"{LOCK_KEY}:{role}"
    with connect(database) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
        # A session lock: commit at once so no transaction stays open (and holds back vacuum) meanwhile.
        conn.commit()
        if not row or not row[0]:
            raise PermanentPipelineError(
                f"another `etl bench` is running against database {database.database}: wait for it to finish"
            )
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def cleanup(endpoints: Endpoints, project: ProjectConfig, day: dt.date) -> None:
    """Leave no bench rows behind: the days in source and warehouse, and the comparison tables."""
    for bench_day in (day, data.rejected_day(day)):
        methods.reset_warehouse_day(endpoints.warehouse, project, bench_day)
        data.delete_partition(endpoints.require_source(), bench_day)
    methods.drop_comparison_tables(endpoints.warehouse)


def write_results(path: Path, results: BenchResults) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Sorted, indented JSON so a rerun's diff shows what moved.
    text = json.dumps(json.loads(results.model_dump_json()), indent=2, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


def read_results(path: Path) -> BenchResults:
    return BenchResults.model_validate_json(path.read_text(encoding="utf-8"))


def profile_pipeline(
    endpoints: Endpoints,
    project: ProjectConfig,
    rows: int,
    output: Path,
    day: dt.date = data.BENCH_DAY,
    echo: Callable[[str], None] = print,
) -> MethodRun:
    """One first pipeline run of `rows` rows under cProfile (in a worker); the stats go to `output`."""
    ensure_warehouse(endpoints.warehouse, project.staging_schema)
    output.parent.mkdir(parents=True, exist_ok=True)
    spec = WorkerSpec(
        method="pipeline",
        repeat=0,
        rows=rows,
        day=day,
        run_id=f"bench__profile_{rows}",
        sample_cap=rows,
        hook_conn_id=HOOK_CONN_ID,
        source=UrlParts.of(endpoints.require_source()),
        warehouse=UrlParts.of(endpoints.warehouse),
        profile=str(output.resolve()),
    )
    with exclusive(endpoints.require_source(), "source"), exclusive(endpoints.warehouse, "warehouse"):
        try:
            data.generate_partition(endpoints.require_source(), rows, project.pipeline("flights").timezone, day)
            methods.reset_warehouse_day(endpoints.warehouse, project, day)
            with tempfile.TemporaryDirectory(prefix="flightdeck-bench-") as workdir:
                run = run_worker(spec, Path(workdir), dict(os.environ))
        finally:
            cleanup(endpoints, project, day)
    echo(report.run_line(run))
    echo(report.profile_text(output))
    return run
