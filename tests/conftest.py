"""Shared fixtures. Tests never touch a machine-wide Ray or MLflow: each starts its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ablate's cache (the SQLite store template) for this test session, not the user's."""
    return tmp_path_factory.mktemp("ablate-cache")


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _cache_dir: Path) -> Path:
    """Each test runs in its own empty directory, so mlflow.db and reports/ never leak."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ABLATE_TEST", "1")
    monkeypatch.setenv("ABLATE_CACHE_DIR", str(_cache_dir))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("RAY_ADDRESS", None)
    return tmp_path


@pytest.fixture
def root() -> Path:
    """The repository root (configs/, search_spaces/, components/)."""
    return ROOT


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: tiny models gain nothing from threads on 2 shared cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
