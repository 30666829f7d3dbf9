"""Run one measured method in this process: `python -m flightdeck_tools.bench.worker SPEC.json RESULT.json`.

One process per run, so the reported peak RSS (ru_maxrss) is that method's alone and no pool,
cache or heap left by an earlier method flatters or burdens the next one.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import resource
import sys
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import URL

from flightdeck_tools.bench.methods import RUNNERS, Context, warm_imports
from flightdeck_tools.bench.models import Method, MethodRun

MB = 1024 * 1024


class UrlParts(BaseModel):
    """A SQLAlchemy URL taken apart, so it crosses the process boundary without re-parsing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drivername: str
    username: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: dict[str, str | tuple[str, ...]]

    @classmethod
    def of(cls, url: URL) -> UrlParts:
        return cls(
            drivername=url.drivername,
            username=url.username,
            password=url.password,
            host=url.host,
            port=url.port,
            database=url.database,
            query=dict(url.query),
        )

    def url(self) -> URL:
        return URL.create(
            self.drivername,
            username=self.username,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.database,
            query=self.query,
        )


class WorkerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Method
    repeat: int
    rows: int
    day: dt.date
    run_id: str
    sample_cap: int
    hook_conn_id: str
    source: UrlParts
    warehouse: UrlParts
    profile: str | None = None


def run(spec: WorkerSpec) -> MethodRun:
    from flightdeck.catalog import project_config

    warm_imports(spec.method)
    context = Context(
        source=spec.source.url(),
        warehouse=spec.warehouse.url(),
        project=project_config(),
        day=spec.day,
        run_id=spec.run_id,
        rows=spec.rows,
        sample_cap=spec.sample_cap,
        hook_conn_id=spec.hook_conn_id,
    )
    start_rss = psutil.Process().memory_info().rss / MB
    runner = RUNNERS[spec.method]
    if spec.profile:
        profiler = cProfile.Profile()
        outcome = profiler.runcall(runner, context)
        profiler.dump_stats(spec.profile)
    else:
        outcome = runner(context)
    # Linux reports ru_maxrss in kilobytes.
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return MethodRun(
        method=spec.method,
        repeat=spec.repeat,
        rows=spec.rows,
        measured_rows=outcome.measured_rows,
        seconds=outcome.seconds,
        peak_rss_mb=peak_rss,
        start_rss_mb=start_rss,
        target_rows=outcome.target_rows,
        stages=tuple(outcome.stages),
        loaded=outcome.loaded,
        rejected=outcome.rejected,
        duplicates=outcome.duplicates,
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m flightdeck_tools.bench.worker SPEC.json RESULT.json", file=sys.stderr)
        return 2
    spec = WorkerSpec.model_validate_json(Path(argv[0]).read_text(encoding="utf-8"))
    result = run(spec)
    Path(argv[1]).write_text(result.model_dump_json(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
