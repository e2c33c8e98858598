"""``fifo``: every trial runs all its epochs."""

from __future__ import annotations

from typing import Any

from ablate.search.schedulers.base import SCHEDULERS, Scheduler


@SCHEDULERS.register_module("fifo")
class Fifo(Scheduler):
    """Ray Tune's ``FIFOScheduler``: no early stopping."""

    def tune_scheduler(self, epochs: int) -> Any:
        from ray.tune.schedulers import FIFOScheduler

        return FIFOScheduler()
