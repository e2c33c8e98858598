"""Tracking fixtures: a real ``mlflow server`` per module, MLflow env per test, no leaked Ray."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tracking_helpers import MlflowServer


@pytest.fixture(autouse=True)
def _mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """open_store sets MLflow's HTTP retry defaults in os.environ; keep them per test."""
    for var in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.setenv(var, "recorded")  # so that undo restores the original state
        monkeypatch.delenv(var)
    monkeypatch.setenv("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


@pytest.fixture
def no_ray_leak() -> Iterator[None]:
    """In-process ``ablate run`` starts a local Ray; shut it down whatever the test did."""
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow_server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
