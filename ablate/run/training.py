"""What trains in a trial's process: the inline runtime (the Tune trial process trains),
and Ray Train's (a ``TorchTrainer`` per trial, its workers, their runtime).

Imported by a trial as it starts (:func:`ablate.run.trial.run_trial`), never by the driver:
torch and the training loop come with it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ablate.config import Config
from ablate.layout import RESULT_TIME, train_run_name
from ablate.run import controller, warm
from ablate.run.context import TrialContext, import_plugins
from ablate.run.session import leave_ray_working_dir
from ablate.settings import train_settings
from ablate.train.checkpoint import load_state, save_state
from ablate.train.device import select_device
from ablate.train.images import encode_images
from ablate.train.loop import Runtime, StateFn, train

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
    warm.wait()  # the worker's warm imports first (see there), then the components
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


def fit_with_ray_train(
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


def set_threads(ctx: TrialContext, resolved: dict[str, Any]) -> None:
    """An inline trial's torch threads: ``train.num_threads``, else its CPUs."""
    threads = resolved.get("train", {}).get("num_threads")
    torch.set_num_threads(int(threads or max(1, int(ctx.worker.get("CPU", 1)))))


def train_inline(
    ctx: TrialContext, resolved: dict[str, Any], name: str, extra: dict[str, Any]
) -> None:
    """Train in this process (the Tune trial's), reporting to Tune."""
    runtime = TuneRuntime(
        extra, ctx.checkpoint(name), _epochs(resolved, ctx.file), ctx.use_gpu, ctx.rungs
    )
    train(Config(resolved, ctx.file), runtime)


__all__ = [
    "CHECKPOINT_EVERY_ENV",
    "CHECKPOINT_EVERY_S",
    "TRAIN_POLL_S",
    "Cadence",
    "RayTrainRuntime",
    "TuneRuntime",
    "fit_with_ray_train",
    "set_threads",
    "train_inline",
    "train_worker",
]
