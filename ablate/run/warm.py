"""Warm Ray Train worker processes: import what training needs while Ray sets the worker up.

A Ray Train trial starts fresh worker processes for every ``fit()``. Each then waits on its
controller (actor set-up, the gloo process group) before the training function starts,
and only then imports torch, ablate, the components, ``torch._dynamo`` (DDP's constructor
imports it; a single worker is not wrapped in DDP, so its trial does not need it) and
scikit-learn (``Digits``):
seconds on the critical path of every trial (BENCHMARKS.md, "Per-trial fixed overhead").

:func:`setup` is the job's ``worker_process_setup_hook`` (:func:`job_runtime_env` on a
cluster, :func:`raylet_env` for a local Ray, which has no job runtime env; Ray runs it as each
worker process starts). Ray honours that hook for a whole job only,
so it acts only in processes whose environment has :data:`WORKER_ENV`, which the trial
gives its Ray Train workers (:func:`worker_runtime_env`): there it starts those imports in a
daemon thread and returns at once, so they overlap the waiting. The training function
waits for that thread (:func:`wait`) before it imports the components and the sweep's
``custom_imports`` (what Ray unpickles for the trial, the trainable's module and what it
names, it imports as it is handed over). Ray Train's controller is left as it is. A local
Ray's early workers that will host inline trials (:data:`TRIAL_ENV`) import what the trial
actor is unpickled from in the hook itself (:data:`TRIAL_FIRST_MODULES`), then torch and the
loop in the thread.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any

from ablate import heap

#: What every training worker imports sooner or later, in the order it needs them.
WARM_MODULES = (
    "torch",
    "ablate.run.training",
    "ablate_components",
    "sklearn.model_selection",
    "sklearn.datasets",
)
#: What a DDP worker (a trial of two or more workers) imports besides: DDP's constructor
#: imports ``torch._dynamo`` (1 s of CPU here). A single worker is not wrapped in DDP, and its
#: optimizer steps without it (:func:`ablate.train.device.eager_optimizer_methods`).
DDP_MODULES = ("torch._dynamo",)
#: What a Tune trial process imports before its trial function trains (a local Ray's
#: worker processes, started ahead by the raylet, import these while the driver builds).
#: Not ``torch._dynamo``: an inline trial's optimizer steps without it
#: (:func:`ablate.train.device.eager_optimizer_methods`).
TRIAL_MODULES = ("torch", "ablate.run.training")
#: What a Tune trial process imports in the hook itself, before its worker takes any task:
#: what the trial actor is unpickled from as it is created (Tune's class, ablate's trial
#: function and its context, all without torch). Imported then, they waited for the
#: driver's Tune to start (1.1 s of CPU, pandas with Tune, on the critical path); imported
#: in the thread instead, they could meet the actor's own import of them, and one of the
#: two got a half-initialized module (``ray.tune.trainable``: 1 run in 6 here).
TRIAL_FIRST_MODULES = ("ray.tune", "ablate.run.trial")
#: Set to ``0`` (in the trial processes' environment) to start workers cold, for A/B runs.
WARM_ENV = "ABLATE_WARM_WORKERS"
#: Marks a Ray Train worker process of an ablate trial: the hook warms only those. Its value
#: is ``1`` for a single worker and :data:`DDP_MARK` for one of a DDP group.
WORKER_ENV, DDP_MARK = "ABLATE_TRAIN_WORKER", "ddp"
#: Marks the workers of a local Ray of ablate's own that will host inline trials.
TRIAL_ENV = "ABLATE_TRIAL_PROCESS"
HOOK = "ablate.run.warm.setup"


def job_runtime_env() -> dict[str, Any]:
    """The job's runtime_env entry that registers :func:`setup` for every worker process."""
    return {"worker_process_setup_hook": HOOK}


def raylet_env(trials: bool = False) -> dict[str, str]:
    """The same for a local Ray started without a job runtime env: the variable through which
    Ray hands a job's hook to its workers, in the environment the raylet gives them; with
    ``trials``, the mark that warms every worker for an inline trial (:data:`TRIAL_ENV`; not
    with :data:`WARM_ENV` ``0``). The caller asks for it only when the raylet's early
    workers, one per CPU, will all host trials."""
    from ray._private.ray_constants import WORKER_PROCESS_SETUP_HOOK_ENV_VAR

    env = {WORKER_PROCESS_SETUP_HOOK_ENV_VAR: HOOK}
    if trials and os.environ.get(WARM_ENV, "1") != "0":
        env[TRIAL_ENV] = "1"
    return env


def worker_runtime_env(num_workers: int = 1) -> dict[str, Any]:
    """Ray Train's ``worker_runtime_env`` of a trial of ``num_workers``: the mark that gets
    its workers warmed (nothing when :data:`WARM_ENV` is ``0``)."""
    if os.environ.get(WARM_ENV, "1") == "0":
        return {}
    return {"env_vars": {WORKER_ENV: DDP_MARK if num_workers > 1 else "1"}}


#: The warm thread :func:`setup` started in this process, if any.
_thread: threading.Thread | None = None


def setup() -> None:
    """Ray's ``worker_process_setup_hook``: in a marked Ray Train worker, import
    :data:`WARM_MODULES` (and :data:`DDP_MODULES` in a DDP worker) in the background; in a
    local Ray's worker marked for trials, :data:`TRIAL_FIRST_MODULES` at once and
    :data:`TRIAL_MODULES` in the background; elsewhere nothing. Never raises (a failing hook
    makes Ray end the worker)."""
    modules: tuple[str, ...]
    first: tuple[str, ...] = ()
    mark = os.environ.get(WORKER_ENV)
    if mark == "1":
        modules = WARM_MODULES
    elif mark == DDP_MARK:
        modules = WARM_MODULES + DDP_MODULES
    elif os.environ.get(TRIAL_ENV) == "1":
        first, modules = TRIAL_FIRST_MODULES, TRIAL_MODULES
    else:
        return
    from ablate import timeline

    timeline.mark("worker hook")
    # Ray runs the hook before the worker's task loop: no task runs meanwhile.
    warm(first, mark=False)
    global _thread
    _thread = threading.Thread(target=warm, args=(modules,), name="ablate-warm", daemon=True)
    _thread.start()


def wait() -> None:
    """Wait for this process's warm imports, if :func:`setup` started them (not from that
    thread). A trial waits before it imports the components: two threads importing
    modules that import each other can each be handed the other's half-initialized module
    (``cannot import name``), which Python's import locks allow to break the deadlock."""
    if _thread is not None and _thread is not threading.current_thread():
        _thread.join()


def warm(modules: tuple[str, ...] = WARM_MODULES, mark: bool = True) -> list[str]:
    """Import ``modules``; the names that could not be imported (an optional dependency the
    trial may not need: its own import then reports it, where it matters). ``mark``: the
    timeline's "worker warm" after them."""
    from ablate import timeline

    missing = []
    # No collections over the imports (ablate.heap); nothing frozen: the trial may run.
    with heap.paused(freeze=False):
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # best effort: the training function imports it again
                missing.append(name)
    if mark:
        timeline.mark("worker warm")
    return missing


__all__ = [
    "DDP_MARK",
    "DDP_MODULES",
    "HOOK",
    "TRIAL_ENV",
    "TRIAL_FIRST_MODULES",
    "TRIAL_MODULES",
    "WARM_ENV",
    "WARM_MODULES",
    "WORKER_ENV",
    "job_runtime_env",
    "raylet_env",
    "setup",
    "wait",
    "warm",
    "worker_runtime_env",
]
