"""The one thread in the Tune driver that makes every MLflow call of a sweep, in order.

Tune's event loop must not wait on MLflow: a trial's next ``report`` waits for the driver to
take its last one, so a slow store would stall every trial. The callback queues; this writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class Writer:
    """The one thread that writes the sweep to MLflow; times the work it does.

    Attributes:
        busy_s: Wall time spent in jobs (mostly waiting on the store).
        cpu_s: CPU time spent in jobs: what tracking takes from the trials.
    """

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ablate-tracking")
        self.error: BaseException | None = None
        self.busy_s = 0.0
        self.cpu_s = 0.0
        self.jobs = 0

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        self.pool.submit(self._run, fn, *args)

    def _run(self, fn: Callable[..., None], *args: Any) -> None:
        if self.error is not None:
            return  # the store is lost (or a bug): what follows would fail the same way
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            fn(*args)
        except BaseException as err:  # surfaced by the next callback, in Tune's thread
            self.error = err
        finally:
            self.busy_s += time.perf_counter() - t0
            self.cpu_s += time.thread_time() - c0
            self.jobs += 1

    def drain(self, timeout: float | None = None) -> None:
        """Wait until every queued job is done."""
        self.pool.submit(lambda: None).result(timeout=timeout)

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


__all__ = ["Writer"]
