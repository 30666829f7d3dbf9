"""docker-compose.yaml (no Docker engine here): the stack it describes is complete and consistent."""

from __future__ import annotations

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
        assert service["environment"]["PYTHONPATH"] == "/opt/airflow/include:/opt/airflow/plugins"


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


def test_the_image_installs_the_projects_pinned_packages() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")

    assert "FROM apache/airflow:3.3.2" in dockerfile
    assert "pip install --no-cache-dir -r /opt/flightdeck/requirements.txt" in dockerfile


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
