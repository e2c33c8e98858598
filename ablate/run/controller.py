"""A Ray Train trial's ``TorchTrainer``, with fewer processes per ``fit()`` on a local Ray.

Ray Train V2 runs every ``fit()`` through a ``TrainController`` actor: a new process, which
imports Ray Train and torch before it can ask for its workers (about 3.5 s of a trial's start
here, BENCHMARKS.md). The controller is pinned to the node of the process that calls
``fit()`` anyway, and that process, Tune's trial actor, only waits for it. So on a local Ray
of ablate's own (:data:`IN_TRIAL_ENV` in its workers' environment) the controller runs in the
trial's own thread, as an object, on an event loop of its own.

What the controller does as an actor and how it fares here:

- it creates the workers' placement group, the workers and their synchronization actor: they
  are then owned by the trial's process and end with it. The placement group outlives it
  while the job lives; the driver removes it (:mod:`ablate.run.reaper`);
- it hands the workers its own actor handle, which they use only for
  ``ray.train.get_all_reported_checkpoints`` (ablate's loop does not call it);
- it exits its actor only on ``abort``, which ``fit()`` calls from a SIGINT handler in a main
  thread: never in a Tune trial;
- it configures the ``ray.train`` logger's files for its process: here it logs through the
  trial's own logging instead (``RAY_TRAIN_ENABLE_CONTROLLER_STRUCTURED_LOGGING=0``, unless
  set), rather than reconfiguring the trial's logging at every ``fit()``.

``ABLATE_TRAIN_CONTROLLER_IN_TRIAL=0`` keeps Ray's controller actor; on a cluster it stays.
Everywhere, a ``fit()`` given no Ray Datasets (ablate's never is) goes without Ray Train's
datasets callback, which would start a ``DatasetManager`` actor, a process, to shard none.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ablate.run import reaper

#: ``1`` in a trial's environment: its Ray Train controller runs in the trial's process. A
#: local Ray of ablate's own sets it, unless the user set it to ``0``.
IN_TRIAL_ENV = "ABLATE_TRAIN_CONTROLLER_IN_TRIAL"
STRUCTURED_LOGGING_ENV = "RAY_TRAIN_ENABLE_CONTROLLER_STRUCTURED_LOGGING"


def enabled() -> bool:
    """Whether a local Ray of ablate's own runs its trials' controllers in them (unless
    :data:`IN_TRIAL_ENV` is ``0``, which keeps Ray Train's controller actor)."""
    return os.environ.get(IN_TRIAL_ENV, "1") != "0"


def in_trial() -> bool:
    """Whether this trial runs its Ray Train controller itself."""
    return os.environ.get(IN_TRIAL_ENV) == "1"


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def trainer_class() -> type:
    """``TorchTrainer``, less Ray Train's placement group cleaner where the driver reaps, and
    with its controller in this process where :func:`in_trial`."""
    from ray.train.torch import TorchTrainer

    class Trainer(TorchTrainer):  # type: ignore[misc]
        def _create_default_callbacks(self) -> list[Any]:
            callbacks = reaper.train_callbacks(super()._create_default_callbacks())  # type: ignore[misc]
            if self.datasets:
                return callbacks
            from ray.train.v2._internal.callbacks.datasets import DatasetsCallback

            # Without Ray Datasets (ablate's loop builds its own data), nothing to shard: its
            # callback would still start a DatasetManager actor, a process, per fit().
            return [cb for cb in callbacks if not isinstance(cb, DatasetsCallback)]

        def _initialize_and_run_controller(self, **kwargs: Any) -> Any:
            if not in_trial() or _loop_running():
                return super()._initialize_and_run_controller(**kwargs)  # type: ignore[misc]
            from ray.train.v2._internal.execution.controller import TrainController

            os.environ.setdefault(STRUCTURED_LOGGING_ENV, "0")
            controller = TrainController(**kwargs)
            asyncio.run(controller.run())
            return controller.get_result()

    return Trainer


__all__ = ["IN_TRIAL_ENV", "enabled", "in_trial", "trainer_class"]
