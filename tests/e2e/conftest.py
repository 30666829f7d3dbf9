"""End-to-end runs need Airflow's metadata database and the connections in the environment."""

from __future__ import annotations

import pytest

from flightdeck.core.stage import Endpoints


@pytest.fixture
def e2e(airflow_metadata: str, airflow_connections: Endpoints) -> Endpoints:
    return airflow_connections
