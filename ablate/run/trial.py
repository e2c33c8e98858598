"""One trial: the Ray Tune function trainable, which trains inline or launches Ray Train.

A trial resolves its point of the search space into a full config and trains it with the
one worker loop (:func:`ablate.train.loop.train`), in one of two ways:

- **inline**: one worker trains inside the Tune trial process, on CPU or on the GPU (or GPU
  share) the trial holds. No worker group, no process group: the per-trial overhead is Ray
  Tune's alone.
- **Ray Train**: a ``TorchTrainer`` runs ``num_workers`` DDP workers (gloo on CPU, nccl on
  GPU); ``TuneReportCallback`` passes each epoch's metrics back to Tune.

Both paths checkpoint the last epoch, and the others at most every
:data:`ablate.run.training.CHECKPOINT_EVERY_S`; they resume from the last checkpoint, and
give the same metrics for the same seed. Both live in :mod:`ablate.run.training`, which
brings torch and the loop: this module, which the driver names as the trainable and every
trial process unpickles, has neither (the driver's own torch is its dry builds').
"""

from __future__ import annotations

import threading
from typing import Any

from ablate import timeline
from ablate.layout import trial_name
from ablate.run import warm
from ablate.run.context import TrialContext, import_plugins, trial_config
from ablate.run.session import leave_ray_working_dir


def run_trial(params: dict[str, Any], ctx: TrialContext) -> None:
    """Ray Tune's function trainable for every ablate trial."""
    timeline.mark("trial starts")
    leave_ray_working_dir(ctx.storage_path)  # Ray may replace it under us (see there)

    def work() -> None:  # all of it within tune.trial_timeout, imports included
        warm.wait()  # what this process imports ahead of the trial, before the trial's own
        # Torch and the loop come with this import (warmed ahead of the trial by
        # ablate.run.warm), before the components: ablate.train.deferred applies then.
        from ablate.run import training

        import_plugins(ctx)
        resolved, _point, seed, cell = trial_config(ctx, params)
        name = trial_name(cell, seed)
        extra = {"ablate_cell": cell, "ablate_seed": seed}
        if ctx.inline:
            training.set_threads(ctx, resolved)  # in the thread that trains
            training.train_inline(ctx, resolved, name, extra)
        else:
            training.fit_with_ray_train(ctx, resolved, name, extra)

    try:
        if ctx.trial_timeout is None:
            work()
        else:
            _with_timeout(work, ctx.trial_timeout)
    finally:
        timeline.mark("trial ends")
    # The final checkpoint stays: if the driver dies before Tune records this trial as done,
    # the restored trial re-reports its last epoch instead of training again.


def _with_timeout(work: Any, seconds: float) -> None:
    """Run ``work``; past ``seconds`` raise ``TimeoutError``. Tune then marks the trial failed
    and ends its process, which takes the hung thread with it."""
    box: dict[str, BaseException] = {}

    def target() -> None:
        try:
            work()
        except BaseException as err:  # carried over and re-raised in the trial's thread
            box["error"] = err

    # Tune's session is process-global, so tune.report works from this thread too.
    thread = threading.Thread(target=target, name="ablate-trial", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"trial exceeded tune.trial_timeout={seconds:g}s and was stopped")
    if "error" in box:
        raise box["error"]
