"""The docs never drift from the code: every ```bash and ```sql block in README.md and
documentation/ is run here, in document order, against throw-away databases.

A block that cannot run on a CI machine (it needs a Docker engine, starts a long-running server,
or is the test suite itself) is preceded by `<!-- not-run: REASON -->`; the reason is required.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from flightdeck.core.db import connect, dispose_engines
from flightdeck.core.paths import PROJECT_ROOT
from tests.conftest import PgServer

DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "documentation").glob("*.md"))]
FENCE_OPEN = re.compile(r"^```(?P<lang>[a-z]*)")
NOT_RUN = re.compile(r"<!-- not-run: (?P<reason>\S.*?) -->")
BLOCK_TIMEOUT_S = 300


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    lang: str
    body: str
    not_run: str | None

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(PROJECT_ROOT)}:{self.line}"


def blocks(document: Path) -> Iterator[Block]:
    """Fenced ```bash and ```sql blocks, each with the not-run reason on the line before it, if any."""
    lines = document.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE_OPEN.match(lines[index])
        if not opening:
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence
        if opening.group("lang") not in ("bash", "sql"):
            continue
        previous = lines[start - 1] if start else ""
        marker = NOT_RUN.search(previous)
        yield Block(
            document, start + 1, opening.group("lang"), "\n".join(body) + "\n", marker and marker.group("reason")
        )


ALL_BLOCKS = [block for document in DOCUMENTS for block in blocks(document)]


def test_the_documents_have_commands_and_every_skipped_one_says_why() -> None:
    assert len(ALL_BLOCKS) >= 10
    for block in ALL_BLOCKS:
        if block.not_run is not None:
            assert len(block.not_run) >= 10, f"{block.where}: say why the block is not run"


@pytest.fixture(scope="module")
def docs_env(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], URL]]:
    """A fresh source and warehouse, and an Airflow home of their own, as a new user would have."""
    source = pg_server.create_database("fdt_docs_src")
    warehouse = pg_server.create_database("fdt_docs_wh")
    home = tmp_path_factory.mktemp("docs-airflow")
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_CONN_WAREHOUSE": pg_server.connection_json(warehouse),
            "AIRFLOW_CONN_FLIGHTS_SOURCE": pg_server.connection_json(source),
            "AIRFLOW_HOME": str(home),
            "PATH": os.pathsep.join([str(PROJECT_ROOT / ".venv" / "bin"), env.get("PATH", "")]),
        }
    )
    yield env, warehouse
    dispose_engines()
    for url in (source, warehouse):
        pg_server.drop_database(url)


def test_every_documented_command_runs(docs_env: tuple[dict[str, str], URL]) -> None:
    env, warehouse = docs_env
    ran = 0
    for block in ALL_BLOCKS:
        if block.not_run is not None:
            continue
        if block.lang == "bash":
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block.body],
                cwd=PROJECT_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT_S,
                check=False,
            )
            assert result.returncode == 0, (
                f"{block.where}: exit {result.returncode}\n{block.body}\n--- stdout\n{result.stdout[-3000:]}"
                f"\n--- stderr\n{result.stderr[-3000:]}"
            )
        else:
            with connect(warehouse) as conn, conn.cursor() as cur:
                cur.execute(block.body.encode())
        ran += 1
    assert ran >= 5
