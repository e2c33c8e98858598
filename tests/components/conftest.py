"""Fixtures for component tests: tiny data files in the real formats, one torch thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from data_files import write_cifar, write_npz


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Two cores are shared by several test runs; one thread each keeps them fast."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cifar_root(tmp_path: Path) -> Path:
    return write_cifar(tmp_path / "cifar")


@pytest.fixture
def npz_path(tmp_path: Path) -> Path:
    return write_npz(tmp_path / "data.npz")
