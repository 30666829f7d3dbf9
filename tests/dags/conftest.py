"""The DAG folder as Airflow's DagBag sees it, parsed once, with every connection attempt refused."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from flightdeck.core.paths import PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"


def _no_network(*_args: Any, **_kwargs: Any) -> None:
    raise AssertionError("a DAG file opened a network or database connection at import time")


@pytest.fixture(scope="session")
def dagbag() -> DagBag:
    """The DagBag, loaded with every socket connection refused (so no database access either)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _no_network)
        patch.setattr(socket.socket, "connect_ex", _no_network)
        patch.setattr(socket, "create_connection", _no_network)
        return DagBag(dag_folder=DAGS)


@pytest.fixture(scope="session")
def dags(dagbag: DagBag) -> dict[str, Any]:
    """Every DAG by id (the folder imports without errors)."""
    assert dagbag.import_errors == {}
    return dict(dagbag.dags)
