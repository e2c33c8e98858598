"""Python's garbage collector while a command starts, and around its report.

Importing torch, MLflow, Ray, pandas and the components makes about half a million
long-lived objects, and every full (generation 2) collection walks all of them: 0.03 s at
first, 0.3 to 0.6 s each by the end of the imports. ``ablate run``'s driver ran 8 or 9 of
them before its first trial, about 2 s of CPU on the critical path, and one more of 0.4 to
0.5 s in the report in 3 of 4 runs (BENCHMARKS.md, the probe). The same holds for a worker
process importing what its trial needs.

:func:`paused` turns automatic collection off for a start-up; :func:`settle` ends that:
what start-up made is frozen (moved where the collector no longer looks; it lives for the
process anyway) and collection is on again for everything made after. :func:`frozen`
leaves everything made so far out of the collections inside its block. Reference counting
frees objects as ever; only cycles wait.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection in the block until :func:`settle`; it settles on the way
    out whatever happened. Does nothing where collection was already off."""
    global _paused
    with _lock:
        if not gc.isenabled():
            mine = False
        else:
            gc.disable()
            _paused += 1
            mine = True
    try:
        yield
    finally:
        if mine:
            settle()


def settle() -> None:
    """End a :func:`paused` start-up: freeze what it made, collect again. Idempotent."""
    global _paused
    with _lock:
        if _paused:
            _paused = 0
            gc.freeze()
            gc.enable()


@contextmanager
def frozen() -> Iterator[None]:
    """Everything made so far is left out of the collections inside the block. Where
    nothing was frozen before, it is thawed again after; after a :func:`settle` (freezing
    does not nest) it stays frozen, as start-up's objects are."""
    thaw = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        yield
    finally:
        if thaw:
            gc.unfreeze()


__all__ = ["frozen", "paused", "settle"]
