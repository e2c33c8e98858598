"""One trial: the Ray Tune function trainable, and the Ray Train worker it may launch.

A trial resolves its point of the search space into a full config and trains it with the
one worker loop (:func:`ablate.train.loop.train`), in one of two ways:

- **inline**: one worker trains inside the Tune trial process, on CPU or on the GPU (or GPU
  share) the trial holds. No worker group, no process group: the per-trial overhead is Ray
  Tune's alone.
- **Ray Train**: a ``TorchTrainer`` runs ``num_workers`` DDP workers (gloo on CPU, nccl on
  GPU); ``TuneReportCallback`` passes each epoch's metrics back to Tune.

Both paths checkpoint the last epoch, and the others at most every
:data:`CHECKPOINT_EVERY_S`; they resume from the last checkpoint, and give the same metrics
for the same seed.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ablate import timeline
from ablate.config import Config
from ablate.layout import (
    RESULT_TIME,
    checkpoint_file,
    split_params,
    train_run_name,
    trial_name,
)
from ablate.registry import load_plugins
from ablate.run import controller, warm
from ablate.run.session import leave_ray_working_dir
from ablate.search.resolve import cell_id, resolve
from ablate.search.space import Point, Space
from ablate.settings import train_settings
from ablate.train.checkpoint import load_state, save_state
from ablate.train.device import select_device
from ablate.train.images import encode_images
from ablate.train.loop import Runtime, StateFn, train


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a sweep shares; shipped once through the object store."""

    sweep: str
    file: str
    base: dict[str, Any]
    space: Space
    imports: list[str]
    inline: bool
    num_workers: int
    use_gpu: bool
    worker: dict[str, float]
    placement_strategy: str
    train_max_failures: int
    storage_path: str
    trial_timeout: float | None
    sys_path: list[str] = field(default_factory=list)
    rungs: tuple[int, ...] = ()  # epochs the scheduler judges at: always checkpointed

    def checkpoint(self, name: str) -> Path:
        """Where a trial keeps its checkpoint (:func:`ablate.layout.checkpoint_file`).

        ablate owns this file rather than handing checkpoints to Tune: Tune's experiment
        state can point at a checkpoint it already rotated away when the driver is killed,
        and then the trial cannot be restored at all.
        """
        return checkpoint_file(self.storage_path, self.sweep, name)


def import_plugins(ctx: TrialContext) -> None:
    """Make the driver's ``custom_imports`` importable and imported in this process."""
    for p in reversed(ctx.sys_path):
        if p not in sys.path:
            sys.path.insert(0, p)
    load_plugins()
    for name in ctx.imports:
        importlib.import_module(name)


def trial_config(
    ctx: TrialContext, params: dict[str, Any]
) -> tuple[dict[str, Any], Point, int, str]:
    point, seed = split_params(params)
    resolved = resolve(ctx.base, ctx.space, point, seed)
    return resolved, point, seed, cell_id(resolved)


#: Seconds between checkpoints of epochs before the last. Short epochs would otherwise
#: spend a tenth of their time writing state nobody reads (measured in BENCHMARKS.md); a
#: trial cut short trains again at most this long. The last epoch is always written.
CHECKPOINT_EVERY_S, CHECKPOINT_EVERY_ENV = 10.0, "ABLATE_CHECKPOINT_EVERY_S"


class Cadence:
    """Whether an epoch's checkpoint is due: the last epoch, a scheduler's rung (``at``: a
    trial paused there goes on from it), or time since the last save."""

    def __init__(self, epochs: int, every_s: float | None = None, at: tuple[int, ...] = ()) -> None:
        if every_s is None:
            every_s = float(os.environ.get(CHECKPOINT_EVERY_ENV, CHECKPOINT_EVERY_S))
        self.epochs, self.every_s, self.at = epochs, every_s, frozenset(at)
        self.saved = time.monotonic()

    def due(self, metrics: dict[str, float]) -> bool:
        now = time.monotonic()
        epoch = int(metrics.get("epoch", 0))
        if epoch >= self.epochs or epoch in self.at or now - self.saved >= self.every_s:
            self.saved = now
            return True
        return False


def _epochs(resolved: dict[str, Any], file: str) -> int:
    return train_settings(Config(resolved, file)).epochs


# --- inline: the Tune trial process trains --------------------------------------------------


class TuneRuntime(Runtime):
    """Reports each epoch to Tune; checkpoints to the trial's own file and resumes from it."""

    def __init__(
        self,
        extra: dict[str, Any],
        checkpoint: Path,
        epochs: int,
        use_gpu: bool = False,
        rungs: tuple[int, ...] = (),
    ) -> None:
        self.extra = extra
        self.checkpoint = checkpoint
        self.cadence = Cadence(epochs, at=rungs)
        self.device = select_device(use_gpu)

    def restore(self) -> dict[str, Any] | None:
        return load_state(self.checkpoint)

    def report(
        self, metrics: dict[str, float], images: dict[str, np.ndarray], state: StateFn
    ) -> None:
        from ray import tune

        if self.cadence.due(metrics):
            save_state(self.checkpoint, state())
        tune.report({**metrics, **self.extra, **encode_images(images), **_stamp()})


# --- Ray Train: a TorchTrainer per trial ------------------------------------------------------


class RayTrainRuntime(Runtime):
    """A Ray Train worker: DDP through ``prepare_model``, sums through ``all_reduce``."""

    def __init__(
        self, extra: dict[str, Any], checkpoint: Path, epochs: int, rungs: tuple[int, ...] = ()
    ) -> None:
        import ray.train
        import ray.train.torch

        self.cadence = Cadence(epochs, at=rungs)
        ctx = ray.train.get_context()
        self.rank = ctx.get_world_rank()
        self.world_size = ctx.get_world_size()
        self.device = ray.train.torch.get_device()
        self.extra = extra
        self.checkpoint = checkpoint

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        import ray.train.torch

        return ray.train.torch.prepare_model(model)

    def prepare_loader(self, loader: Any) -> Any:
        import ray.train.torch

        # The loop builds its own DistributedSampler, seeded like the inline path.
        return ray.train.torch.prepare_data_loader(loader, add_dist_sampler=False)

    def all_reduce_sum(self, values: torch.Tensor) -> torch.Tensor:
        if self.world_size == 1:
            return values
        import torch.distributed as dist

        dev = values.to(self.device)
        dist.all_reduce(dev)
        return dev.cpu()

    def restore(self) -> dict[str, Any] | None:
        # Every rank reads the same file (shared storage on a cluster); after a worker-group
        # restart, training goes on from the last epoch rank 0 wrote.
        return load_state(self.checkpoint)

    def report(
        self, metrics: dict[str, float], images: dict[str, np.ndarray], state: StateFn
    ) -> None:
        import ray.train

        if self.rank == 0 and self.cadence.due(metrics):
            save_state(self.checkpoint, state())
        shown = encode_images(images) if self.rank == 0 else {}  # Tune gets rank 0's report
        ray.train.report({**metrics, **self.extra, **shown, **_stamp()})


def _stamp() -> dict[str, float]:
    """The result's time to the millisecond (:data:`ablate.layout.RESULT_TIME`)."""
    return {RESULT_TIME: time.time()}


def train_worker(loop_config: dict[str, Any]) -> None:
    """Ray Train's ``train_loop_per_worker``."""
    ctx: TrialContext = loop_config["ctx"]
    leave_ray_working_dir(ctx.storage_path)
    import_plugins(ctx)
    cfg = Config(loop_config["config"], ctx.file)
    epochs = _epochs(loop_config["config"], ctx.file)
    runtime = RayTrainRuntime(
        loop_config["extra"], ctx.checkpoint(loop_config["name"]), epochs, ctx.rungs
    )
    train(cfg, runtime)


#: Seconds between Ray Train's polls of its workers (Ray's default is 2). A worker's report
#: waits in a queue of one until the controller polls it, so with Ray's default an epoch
#: shorter than 2 s blocks on its report, and every trial's end is noticed up to 2 s late.
#: Ray Train hands this variable from the trial process to its controller; a value the user
#: set wins.
TRAIN_POLL_S = "0.25"


def _fit_with_ray_train(
    ctx: TrialContext, resolved: dict[str, Any], name: str, extra: dict[str, Any]
) -> None:
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig
    from ray.tune.integration.ray_train import TuneReportCallback

    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", TRAIN_POLL_S)

    Trainer = controller.trainer_class()
    trainer = Trainer(
        train_worker,
        train_loop_config={"ctx": ctx, "config": resolved, "extra": extra, "name": name},
        torch_config=TorchConfig(backend="nccl" if ctx.use_gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=ctx.num_workers,
            use_gpu=ctx.use_gpu,
            resources_per_worker=dict(ctx.worker),
            placement_strategy=ctx.placement_strategy,
        ),
        # Ray Train V2's RunConfig (what ray.train exports at run time); mypy sees V1's.
        run_config=RunConfig(  # type: ignore[call-arg]
            # A deterministic name: a restarted trial finds its own Train run and resumes it.
            name=train_run_name(ctx.sweep, name),
            storage_path=ctx.storage_path,
            failure_config=FailureConfig(max_failures=ctx.train_max_failures),
            callbacks=[TuneReportCallback()],  # type: ignore[list-item]
            # Marked, the workers import torch, ablate and the components while Ray sets
            # them up (ablate.run.warm).
            worker_runtime_env=warm.worker_runtime_env(ctx.num_workers),
        ),
    )
    trainer.fit()


def run_trial(params: dict[str, Any], ctx: TrialContext) -> None:
    """Ray Tune's function trainable for every ablate trial."""
    timeline.mark("trial starts")
    leave_ray_working_dir(ctx.storage_path)  # Ray may replace it under us (see there)
    import_plugins(ctx)
    resolved, _point, seed, cell = trial_config(ctx, params)
    name = trial_name(cell, seed)
    extra = {"ablate_cell": cell, "ablate_seed": seed}
    if ctx.inline:
        threads = resolved.get("train", {}).get("num_threads")
        torch.set_num_threads(int(threads or max(1, int(ctx.worker.get("CPU", 1)))))

        def work() -> None:
            runtime = TuneRuntime(
                extra, ctx.checkpoint(name), _epochs(resolved, ctx.file), ctx.use_gpu, ctx.rungs
            )
            train(Config(resolved, ctx.file), runtime)
    else:

        def work() -> None:
            _fit_with_ray_train(ctx, resolved, name, extra)

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
