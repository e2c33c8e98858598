"""Training-loop tests run tiny models on one torch thread."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here on one torch thread (the shared ``one_thread`` fixture)."""
