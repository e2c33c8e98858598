"""Python's garbage collector while a command starts, and around its report.

Importing torch, MLflow, Ray, pandas and the components makes about half a million
long-lived objects, and every full (generation 2) collection walks all of them: 0.03 s at
first, 0.3 to 0.6 s each by the end of the imports. ``ablate run``'s driver ran 8 or 9 of
them before its first trial, about 2 s of CPU on the critical path, and one more of 0.4 to
0.5 s in the report in 3 of 4 runs (BENCHMARKS.md, the probe). A worker process importing
what its trial needs ran them too.

:func:`paused` turns automatic collection (of every generation) off for a start-up;
:func:`settle` ends that. In the driver, what start-up made is then frozen: moved where the
collector no longer looks. Those objects live for the process anyway, and so do the
garbage cycles made among them (about 11,000 objects after the imports), which nothing
collected before the freeze. In a worker the warm-up thread only pauses: its trial may
already run, and what the trial makes must stay collectable. :func:`frozen` leaves
everything made so far out of the collections inside its block. Reference counting frees
objects as ever; only cycles wait.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0
_freeze = True


@contextmanager
def paused(freeze: bool = True) -> Iterator[None]:
    """No automatic collection in the block until :func:`settle`; it settles on the way
    out whatever happened. Without ``freeze``, settling only turns collection on again.
    Does nothing where collection was already off."""
    global _paused, _freeze
    with _lock:
        if not gc.isenabled():
            mine = False
        else:
            gc.disable()
            _paused += 1
            _freeze = freeze
            mine = True
    try:
        yield
    finally:
        if mine:
            settle()


def settle() -> None:
    """End a :func:`paused` start-up: freeze what it made (unless it was paused without
    ``freeze``), collect again. Idempotent."""
    global _paused
    with _lock:
        if _paused:
            _paused = 0
            if _freeze:
                gc.freeze()
            gc.enable()


@contextmanager
def frozen() -> Iterator[None]:
    """Everything made so far is left out of the collections inside the block. Where
    nothing was frozen before, it is thawed again after; after a :func:`settle` (freezing
    does not nest) it stays frozen, as start-up's objects are."""
    # Not for threads that freeze meanwhile: the thaw would thaw theirs too (ablate's
    # report runs alone in its process).
    thaw = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        yield
    finally:
        if thaw:
            gc.unfreeze()


__all__ = ["frozen", "paused", "settle"]
