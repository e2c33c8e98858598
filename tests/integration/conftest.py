"""Integration fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import TINY_BASE, write


@pytest.fixture
def tiny_base(tmp_path: Path) -> Path:
    return write(tmp_path, "base.yaml", TINY_BASE)
