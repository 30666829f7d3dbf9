"""`etl bench` at a smoke size: every method runs on the generated rows, results and doc are written.

Not a timed test: the figures are not asserted, only that the benchmark measures what it says.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from flightdeck.catalog import ProjectConfig
from flightdeck.core.db import connect, dispose_engines
from flightdeck.core.errors import PermanentPipelineError
from flightdeck.core.migrations import apply_sql_file
from flightdeck.core.stage import Endpoints
from flightdeck.core.staging import copy_query
from flightdeck.sources.flights.pipeline import SOURCE_DDL
from flightdeck_tools.bench import data, methods
from flightdeck_tools.bench.models import METHODS, PIPELINE_METHODS, BenchResults
from flightdeck_tools.bench.report import END_MARKER, START_MARKER, write_doc
from flightdeck_tools.bench.runner import (
    BenchOptions,
    airflow_uri,
    exclusive,
    parse_sizes,
    read_results,
    run_benchmark,
)
from flightdeck_tools.seed import FLIGHT_COLUMNS
from tests.conftest import PgServer

ROWS = 1500
SAMPLE_CAP = 1000  # below ROWS, so to_sql and insert_rows take the sampled, extrapolated path
PROSE_BEFORE = f"# Benchmarks\n\nProse above the results, which may quote `{START_MARKER}` inline.\n\n"
PROSE_AFTER = "\n\n## Profile\n\nProse below the results.\n"


def _count(url: URL, statement: sql.SQL | sql.Composed) -> int:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(statement)
        row = cur.fetchone()
    return int(str(row[0])) if row else 0


@pytest.fixture
def bench_source(pg_server: PgServer, source_url: URL) -> Iterator[URL]:
    """A writable source whose template is the first three real days of 2013 (the seeded one is shared)."""
    url = pg_server.create_database("fdt_bench_src")
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in FLIGHT_COLUMNS)
    template = sql.SQL("SELECT {} FROM ops.flights WHERE year = 2013 AND month = 1 AND day <= 3 ORDER BY flight_id")
    with connect(url) as conn:
        apply_sql_file(conn, SOURCE_DDL)
    with connect(source_url) as src, connect(url) as dst:
        copy_query(src, template.format(columns), [], dst, sql.Identifier("ops", "flights"), FLIGHT_COLUMNS)
    yield url
    dispose_engines()
    pg_server.drop_database(url)


def test_generator_is_idempotent_and_leaves_real_days_alone(bench_source: URL, project: ProjectConfig) -> None:
    timezone = project.pipeline("flights").timezone
    template = data.template_rows(bench_source)
    for _ in range(2):
        assert data.generate_partition(bench_source, ROWS, timezone) == ROWS
        assert data.partition_rows(bench_source) == ROWS
    assert data.template_rows(bench_source) == template
    assert _count(bench_source, sql.SQL("SELECT count(*) FROM ops.flights")) == template + ROWS
    # The natural key is unique and every flight number is one FlightNumber accepts.
    assert (
        _count(
            bench_source,
            sql.SQL(
                "SELECT count(DISTINCT (origin, carrier, flight, time_hour, minute)) FROM ops.flights "
                "WHERE year = 2030 AND flight BETWEEN 1 AND 9999"
            ),
        )
        == ROWS
    )
    data.delete_partition(bench_source)
    assert data.partition_rows(bench_source) == 0


def test_one_benchmark_at_a_time_per_source(bench_source: URL) -> None:
    busy = pytest.raises(PermanentPipelineError, match="another `etl bench` is running")
    with exclusive(bench_source), busy, exclusive(bench_source):
        pass
    with exclusive(bench_source):  # released again
        pass


def test_bench_smoke(bench_source: URL, warehouse_url: URL, project: ProjectConfig, tmp_path: Path) -> None:
    endpoints = Endpoints(source=bench_source, warehouse=warehouse_url)
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"{PROSE_BEFORE}{START_MARKER}\nstale table\n{END_MARKER}{PROSE_AFTER}", encoding="utf-8")
    output = tmp_path / "bench" / "results.json"
    options = BenchOptions(
        sizes=(ROWS,),
        repeats=1,
        output=output,
        doc=doc,
        sample_cap=SAMPLE_CAP,
        command=f"etl bench --sizes {ROWS} --repeats 1",
    )
    lines: list[str] = []

    results = run_benchmark(endpoints, project, options, echo=lines.append)

    (size,) = results.sizes
    assert size.generated_rows == ROWS
    assert sorted(run.method for run in size.runs) == sorted(METHODS)
    for run in size.runs:
        assert run.rows == ROWS, run.method
        assert run.peak_rss_mb > 0, run.method
        if run.method in ("to_sql", "to_sql_psycopg2", "insert_rows"):
            assert (run.measured_rows, run.target_rows) == (SAMPLE_CAP, SAMPLE_CAP), run.method
        elif run.method == "copy_pk":
            assert (run.measured_rows, run.target_rows) == (ROWS, ROWS)
        elif run.method == "pipeline_rejected":
            # Every row of the rejected day is rejected, explained and recorded; the load refuses it.
            assert run.measured_rows == ROWS  # extracted
            assert [stage.stage for stage in run.stages] == ["extract", "transform", "load"]
            assert (run.loaded, run.rejected, run.duplicates, run.target_rows) == (0, ROWS, 0, 0)
        else:
            assert run.measured_rows == ROWS  # extracted
            assert [stage.stage for stage in run.stages] == ["extract", "transform", "load", "check"]
            assert run.loaded is not None
            assert run.rejected is not None
            assert run.duplicates is not None
            assert run.loaded == ROWS - run.rejected - run.duplicates == run.target_rows
    summaries = {summary.method: summary for summary in size.methods}
    assert set(summaries) == set(METHODS)
    assert summaries["copy_pk"].ratio_to_copy_pk == pytest.approx(1.0)
    assert summaries["to_sql"].extrapolated
    assert summaries["to_sql"].sample_rows == SAMPLE_CAP
    assert summaries["to_sql_psycopg2"].extrapolated
    assert not summaries["pipeline"].extrapolated
    assert all(summaries[method].stages for method in PIPELINE_METHODS)
    assert {target.name for target in results.targets} == {
        "end_to_end_vs_copy",
        "end_to_end_vs_to_sql",
        "end_to_end_vs_to_sql_psycopg2",
        "peak_rss",
        "peak_rss_rejected",
        "rss_flat",
        "cost_per_row_flat",
        "rerun_no_dearer",
    }
    printed = [line for text in lines for line in text.splitlines()]
    assert any(line.startswith(("PASS", "FAIL")) for line in printed)
    rejected_rss = f"{summaries['pipeline_rejected'].peak_rss_mb:.0f} MB at {ROWS:,} rows"
    assert any(line.startswith(("PASS", "FAIL")) and "all-rejected day: " + rejected_rss in line for line in printed)

    # results.json is the model, and reads back equal.
    assert read_results(output) == results
    BenchResults.model_validate_json(output.read_text(encoding="utf-8"))

    # The section between the markers is replaced; the prose around it survives, also on a rewrite.
    text = doc.read_text(encoding="utf-8")
    assert text.startswith(PROSE_BEFORE + START_MARKER)
    assert text.endswith(END_MARKER + PROSE_AFTER)
    assert [line for line in text.splitlines() if line in (START_MARKER, END_MARKER)] == [START_MARKER, END_MARKER]
    assert "stale table" not in text
    assert "| copy_pk |" in text
    assert "| pipeline_rejected |" in text
    assert "peak RSS <= 600 MB for an all-rejected day" in text
    assert "### Targets" in text
    assert options.command in text
    write_doc(doc, results)
    assert doc.read_text(encoding="utf-8") == text

    # Nothing of the bench is left behind.
    assert data.partition_rows(bench_source) == 0
    assert data.partition_rows(bench_source, data.rejected_day()) == 0
    assert not methods.comparison_tables_exist(warehouse_url)
    assert (
        _count(warehouse_url, sql.SQL("SELECT count(*) FROM core.fact_flights WHERE flight_date = '2030-01-15'")) == 0
    )
    assert _count(warehouse_url, sql.SQL("SELECT count(*) FROM audit.rejected_records")) == 0


def test_sizes_and_hook_uri() -> None:
    assert parse_sizes("100000, 1M,2k") == (100_000, 1_000_000, 2_000)
    with pytest.raises(ValueError, match="not a positive row count"):
        parse_sizes("0")
    socket = URL.create("postgresql+psycopg", username="postgres", host="/tmp/pg dir", database="warehouse")
    assert airflow_uri(socket) == "postgresql://postgres@%2Ftmp%2Fpg%20dir/warehouse"
    tcp = URL.create("postgresql+psycopg", "u", "p@ss", "127.0.0.1", 5432, "wh", {"connect_timeout": "10"})
    assert airflow_uri(tcp) == "postgresql://u:p%40ss@127.0.0.1:5432/wh?connect_timeout=10"
