"""The worker training loop: one piece of code for ``ablate train``, a single-process sweep
trial, and every Ray Train worker. What differs between them lives in a :class:`Runtime`.

Per epoch it reports ``train/loss``, each loss term (``train/<prefix>/loss``),
``visual_summary`` scalars, ``val/loss`` and every metric of ``evaluation.metrics`` as
``val/<name>`` (:mod:`ablate.train.evaluate`); the last epoch also ``test/<name>`` when
``evaluation.test`` is on.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from ablate import timeline
from ablate.config import Config
from ablate.nn.model import BaseModel, Batch, LossAggregator, image_summaries, scalar_summaries
from ablate.settings import TrainSettings, data_settings, train_settings
from ablate.train.batching import batched, collate
from ablate.train.build import (
    BuiltModel,
    build_datasets,
    build_model,
    build_optimizer,
    build_sampler,
    build_test_dataset,
    sample_batch,
    train_loader,
)
from ablate.train.device import (
    batch_to_channels_last,
    loader_options,
    maybe_compile,
    to_memory_format,
)
from ablate.train.evaluate import TEST, VAL, evaluate, to_device
from ablate.train.metrics import BaseMetric
from ablate.train.precision import Precision

StateFn = Callable[[], dict[str, Any]]


class Runtime:
    """Where the loop runs. The base class is a single local process.

    Subclasses (the Ray Train worker) override ``prepare_model``, ``prepare_loader``,
    ``all_reduce_sum``, ``report`` and ``restore``.
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return model

    def prepare_loader(self, loader: DataLoader) -> DataLoader:
        return loader

    def all_reduce_sum(self, values: Tensor) -> Tensor:
        return values

    def restore(self) -> dict[str, Any] | None:
        """A checkpoint state to resume from, or None."""
        return None

    def report(
        self, metrics: dict[str, float], images: dict[str, np.ndarray], state: StateFn
    ) -> None:
        """Called once per epoch; ``state()`` builds the checkpoint if one is wanted."""


def metric_names(built: BuiltModel) -> set[str]:
    """Every metric name the loop reports per epoch for this model."""
    names = {"epoch", "lr", "time/train_epoch_s", "train/loss", *built.modes}
    return names | {f"train/{k}" for k in built.logged}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _to_device(parts: _Parts, batch: Batch) -> Batch:
    batch = to_device(batch, parts.runtime.device)
    return batch_to_channels_last(batch) if parts.settings.channels_last else batch


@dataclass
class _Sums:
    """Per-epoch running sums, weighted by batch size."""

    n: int = 0
    values: dict[str, float] | None = None

    def add(self, items: dict[str, float], n: int) -> None:
        self.values = self.values or {}
        for k, v in items.items():
            self.values[k] = self.values.get(k, 0.0) + v * n
        self.n += n

    def means(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}{k}": v / max(self.n, 1) for k, v in (self.values or {}).items()}


@dataclass
class _Parts:
    """One training run's parts: built once, used every epoch.

    ``model`` is the unwrapped model (validation and checkpoints use it: a DDP forward would
    sync buffers and hang on uneven validation shards); ``net`` is what trains, the model
    as the runtime prepared it (DDP-wrapped under Ray Train).
    """

    model: BaseModel
    losses: LossAggregator
    optimizer: torch.optim.Optimizer
    scheduler: Any  # a torch LR scheduler, stepped once per epoch, or None
    metrics: list[BaseMetric]  # evaluation.metrics, built (states reset per split)
    runtime: Runtime
    settings: TrainSettings
    precision: Precision
    net: nn.Module | None = None

    def state(
        self, epoch: int, metrics: dict[str, float], history: tuple[dict[str, float], ...] = ()
    ) -> dict[str, Any]:
        """The checkpoint after ``epoch`` (0-based); ``history``: every epoch's metrics."""
        return {
            "epoch": epoch,
            "metrics": metrics,
            "history": list(history),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.precision.state_dict(),
        }

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.precision.load_state_dict(state.get("scaler"))


def train(cfg: Config, runtime: Runtime | None = None) -> dict[str, float]:
    """Train ``cfg`` to the end and return the last epoch's metrics.

    Raises:
        AblateError: a config mistake found while building.
        FloatingPointError: the loss became NaN or infinite.
    """
    runtime = runtime or Runtime()
    settings = train_settings(cfg)
    data = data_settings(cfg)
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    seed_everything(settings.seed)
    train_set, val_set = build_datasets(cfg)
    parts = _build(cfg, train_set, runtime, settings)

    start_epoch = 0
    history: list[dict[str, float]] = []  # every epoch's metrics so far, kept in checkpoints
    restored = runtime.restore()
    if restored is not None:
        parts.load(restored)
        start_epoch = int(restored["epoch"]) + 1
        last = dict(restored.get("metrics") or {})
        history = [dict(m) for m in restored.get("history") or ([last] if last else [])]
        # Report the epochs up to the checkpoint again: a kill between the checkpoint and
        # its report loses that epoch's metrics, and a driver killed while the tracking
        # store was down never sent the ones before it (trackers keep one value per step).
        # If the checkpoint is the last epoch's, that is all there is left to do.
        for past in history:
            runtime.report({**past, "ablate_restored": 1.0}, {}, lambda: restored)
        if start_epoch >= settings.epochs:
            return last

    parts.net = maybe_compile(runtime.prepare_model(parts.model), settings.compile)
    loading = loader_options(data, runtime.device)
    sampler = build_sampler(cfg, train_set, runtime.rank, runtime.world_size, settings.seed)
    loader = runtime.prepare_loader(train_loader(cfg, train_set, sampler, loading))
    val_batch = data.val_batch_size or data.batch_size
    val_loader = _shard_loader(val_set, runtime, val_batch, loading)
    assert val_loader is not None
    test_loader = _shard_loader(build_test_dataset(cfg), runtime, val_batch, loading)

    metrics: dict[str, float] = {}
    timeline.mark("training starts")
    for epoch in range(start_epoch, settings.epochs):
        # The data order of an epoch depends on the seed and the epoch alone, so a resumed
        # trial sees the order it would have seen.
        sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        want_images = settings.image_every > 0 and (epoch + 1) % settings.image_every == 0
        t0 = time.perf_counter()
        train_metrics, images = _train_epoch(parts, loader, epoch, want_images)
        train_time = time.perf_counter() - t0
        if parts.scheduler is not None:
            parts.scheduler.step()
        val_metrics = _evaluate(parts, val_loader, VAL)
        if test_loader is not None and epoch == settings.epochs - 1:
            val_metrics.update(_evaluate(parts, test_loader, TEST))  # once, at the end
        metrics = {
            "epoch": float(epoch + 1),
            **train_metrics,
            **val_metrics,
            "lr": float(parts.optimizer.param_groups[0]["lr"]),
            "time/train_epoch_s": train_time,
        }
        history.append(metrics)
        state = functools.partial(parts.state, epoch, metrics, tuple(history))
        runtime.report(metrics, images, state)
    return metrics


def _build(cfg: Config, train_set: Dataset, runtime: Runtime, settings: TrainSettings) -> _Parts:
    """The model (on the runtime's device), its losses, the optimizer and LR schedule."""
    built = build_model(cfg, sample_batch(train_set))
    to_memory_format(built.model.to(runtime.device), settings.channels_last)
    built.losses.to(runtime.device)
    for metric in built.metrics:
        metric.to(runtime.device)
    params = [p for p in built.model.parameters() if p.requires_grad]
    optimizer, scheduler = build_optimizer(cfg, params, settings.epochs)
    precision = Precision(settings.amp_dtype, runtime.device)
    return _Parts(
        built.model,
        built.losses,
        optimizer,
        scheduler,
        built.metrics,
        runtime,
        settings,
        precision,
    )


def _train_epoch(
    parts: _Parts, loader: Iterable[Batch], epoch: int, want_images: bool
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """One pass over this rank's shard; train metrics averaged over every rank."""
    net, losses, optimizer, runtime = parts.net, parts.losses, parts.optimizer, parts.runtime
    assert net is not None
    grad_clip, max_batches = parts.settings.grad_clip, parts.settings.max_batches
    net.train()
    sums = _Sums()
    images: dict[str, np.ndarray] = {}
    for step, batch in enumerate(loader):
        if max_batches is not None and step >= max_batches:
            break
        batch = _to_device(parts, batch)
        with parts.precision.autocast():
            out = net(batch)
            loss, info = losses(out["training_feat"])
        loss_value = float(loss.detach())  # the step's one read of the loss
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"loss is {loss_value} at epoch {epoch + 1}, step {step + 1}")
        optimizer.zero_grad(set_to_none=True)
        parts.precision.step(loss, optimizer, net.parameters(), grad_clip)
        n = int(batch["labels"].shape[0])
        summary = out.get("visual_summary") or {}
        sums.add({"loss": loss_value, **info, **scalar_summaries(summary)}, n)
        if want_images and not images:
            images = image_summaries(summary)
    # Every rank's train loss is averaged, so logs match across world sizes.
    values = sums.values or {}
    keys = sorted(values)
    totals = runtime.all_reduce_sum(
        torch.tensor([float(sums.n)] + [values[k] for k in keys], dtype=torch.float64)
    )
    n_all = max(float(totals[0]), 1.0)
    out_metrics = {f"train/{k}": float(v) / n_all for k, v in zip(keys, totals[1:].tolist())}
    return out_metrics, images


def _shard_loader(
    dataset: Dataset | None, runtime: Runtime, batch_size: int, loading: dict[str, Any]
) -> DataLoader | None:
    """This rank's every-``world_size``-th item of an evaluated split (None stays None)."""
    if dataset is None:
        return None
    shard = Subset(batched(dataset), range(runtime.rank, len(dataset), runtime.world_size))  # type: ignore[arg-type]
    return DataLoader(shard, batch_size=batch_size, collate_fn=collate, **loading)


def _evaluate(parts: _Parts, loader: DataLoader, split: str) -> dict[str, Any]:
    """``<split>/*`` of this epoch: the loss, the metrics, the artifacts (non-scalars)."""
    ev = evaluate(
        parts.model,
        parts.losses,
        parts.metrics,
        loader,
        split,
        parts.runtime,
        autocast=parts.precision.autocast,
    )
    return ev.as_result()
