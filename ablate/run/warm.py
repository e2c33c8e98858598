"""Warm Ray Train worker processes: import what training needs while Ray sets the worker up.

A Ray Train trial starts fresh worker processes for every ``fit()``. Each then waits on its
controller (actor set-up, the gloo process group) before the training function starts,
and only then imports ablate, the components, scikit-learn (``Digits``) and
``torch._dynamo`` (torch's optimizers import it on first construction): about 4 s on the
critical path of every trial (BENCHMARKS.md, "Per-trial fixed overhead").

:func:`setup` is the workers' ``worker_process_setup_hook`` (Ray runs it as each worker
process starts; :func:`runtime_env` gives the entry). It starts those imports in a daemon
thread and returns at once, so they overlap the waiting. Python's import lock makes the
training function wait for a module still being imported rather than import it twice.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any

#: What every training worker imports sooner or later, in the order it needs them.
WARM_MODULES = (
    "torch",
    "ablate.run.trial",
    "ablate_components",
    "torch._dynamo",
    "sklearn.model_selection",
    "sklearn.datasets",
)
#: Set to ``0`` to start workers cold (for A/B measurements).
WARM_ENV = "ABLATE_WARM_WORKERS"
HOOK = "ablate.run.warm.setup"


def enabled() -> bool:
    return os.environ.get(WARM_ENV, "1") != "0"


def runtime_env() -> dict[str, Any]:
    """The Ray Train workers' runtime_env entry that warms them (empty when disabled)."""
    return {"worker_process_setup_hook": HOOK} if enabled() else {}


def setup() -> None:
    """Ray's ``worker_process_setup_hook``: import :data:`WARM_MODULES` in the background."""
    threading.Thread(target=warm, name="ablate-warm", daemon=True).start()


def warm(modules: tuple[str, ...] = WARM_MODULES) -> list[str]:
    """Import ``modules``; the names that could not be imported (an optional dependency the
    trial may not need: its own import then reports it, where it matters)."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # best effort: the training function imports it again
            missing.append(name)
    return missing


__all__ = ["HOOK", "WARM_ENV", "WARM_MODULES", "enabled", "runtime_env", "setup", "warm"]
