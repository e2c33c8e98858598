"""The worker training loop: one piece of code for ``ablate train``, a single-process sweep
trial, and every Ray Train worker. What differs between them lives in a :class:`Runtime`.

Per epoch it reports ``train/loss``, each loss term (``train/<prefix>/loss``),
``visual_summary`` scalars, ``val/loss`` and ``val/top1``/``val/top5`` (logits) or
``val/rank1`` (embeddings). Validation sums counts over all ranks before dividing.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Subset

from ablate.config import Config
from ablate.nn.model import BaseModel, Batch, LossAggregator, image_summaries, scalar_summaries
from ablate.settings import data_settings, train_settings
from ablate.train.build import (
    BuiltModel,
    build_datasets,
    build_model,
    build_optimizer,
    sample_batch,
)

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
    names = {"epoch", "lr", "time/train_epoch_s", "train/loss", "val/loss"}
    names |= {f"train/{k}" for k in built.logged}
    if built.inference == "logits":
        names |= {f"val/top{k}" for k in getattr(built.model, "topk", (1, 5))}
    else:
        names.add("val/rank1")
    return names


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def to_device(batch: Batch, device: torch.device) -> Batch:
    if device.type == "cpu":
        return batch
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()
    }


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
    built = build_model(cfg, sample_batch(train_set))
    model, losses = built.model, built.losses
    model.to(runtime.device)
    losses.to(runtime.device)
    optimizer, scheduler = build_optimizer(
        cfg, [p for p in model.parameters() if p.requires_grad], settings.epochs
    )

    start_epoch = 0
    restored = runtime.restore()
    if restored is not None:
        model.load_state_dict(restored["model"])
        optimizer.load_state_dict(restored["optimizer"])
        if scheduler is not None and restored.get("scheduler") is not None:
            scheduler.load_state_dict(restored["scheduler"])
        start_epoch = int(restored["epoch"]) + 1
        # The checkpoint is written just before its epoch is reported, so a kill in between
        # would lose that epoch's metrics: report the restored epoch again (trackers keep
        # one value per step). If it was the last epoch, that is all there is left to do.
        last = dict(restored.get("metrics") or {})
        if last:
            runtime.report({**last, "ablate_restored": 1.0}, {}, lambda: restored)
        if start_epoch >= settings.epochs:
            return last

    net = runtime.prepare_model(model)
    sampler: Any
    if runtime.world_size > 1:
        sampler = DistributedSampler(
            train_set,
            num_replicas=runtime.world_size,
            rank=runtime.rank,
            shuffle=True,
            seed=settings.seed,
        )
    else:
        sampler = RandomSampler(train_set, generator=torch.Generator())  # type: ignore[arg-type]
    loader = runtime.prepare_loader(
        DataLoader(
            train_set,
            batch_size=data.batch_size,
            sampler=sampler,
            num_workers=data.loader_workers,
            # A last batch of one sample breaks BatchNorm in train mode; drop only that one.
            drop_last=len(sampler) % data.batch_size == 1,
        )
    )
    val_shard = Subset(val_set, range(runtime.rank, len(val_set), runtime.world_size))  # type: ignore[arg-type]
    val_loader = DataLoader(
        val_shard,
        batch_size=data.val_batch_size or data.batch_size,
        num_workers=data.loader_workers,
    )

    metrics: dict[str, float] = {}
    for epoch in range(start_epoch, settings.epochs):
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        else:
            sampler.generator.manual_seed(settings.seed * 100_003 + epoch)
        want_images = settings.image_every > 0 and (epoch + 1) % settings.image_every == 0
        t0 = time.perf_counter()
        train_metrics, images = _train_epoch(
            net,
            losses,
            loader,
            optimizer,
            runtime,
            settings.grad_clip,
            settings.max_batches,
            epoch,
            want_images,
        )
        train_time = time.perf_counter() - t0
        if scheduler is not None:
            scheduler.step()
        val_metrics = evaluate(
            model,
            losses,
            val_loader,
            built.inference,
            train_set,
            data.val_batch_size or data.batch_size,
            runtime,
        )
        metrics = {
            "epoch": float(epoch + 1),
            **train_metrics,
            **val_metrics,
            "lr": float(optimizer.param_groups[0]["lr"]),
            "time/train_epoch_s": train_time,
        }

        def state(epoch: int = epoch, metrics: dict[str, float] = metrics) -> dict[str, Any]:
            return {
                "epoch": epoch,
                "metrics": metrics,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
            }

        runtime.report(metrics, images, state)
    return metrics


def _train_epoch(
    net: nn.Module,
    losses: LossAggregator,
    loader: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    runtime: Runtime,
    grad_clip: float | None,
    max_batches: int | None,
    epoch: int,
    want_images: bool,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    net.train()
    sums = _Sums()
    images: dict[str, np.ndarray] = {}
    seen = 0
    for step, batch in enumerate(loader):
        if max_batches is not None and step >= max_batches:
            break
        batch = to_device(batch, runtime.device)
        out = net(batch)
        loss, info = losses(out["training_feat"])
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(
                f"loss is {float(loss.detach())} at epoch {epoch + 1}, step {step + 1}"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        optimizer.step()
        n = int(batch["labels"].shape[0])
        seen += n
        summary = out.get("visual_summary") or {}
        sums.add({"loss": float(loss.detach()), **info, **scalar_summaries(summary)}, n)
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


@torch.no_grad()
def evaluate(
    model: BaseModel,
    losses: LossAggregator,
    val_loader: DataLoader,
    inference: str,
    gallery_set: Dataset,
    batch_size: int,
    runtime: Runtime,
) -> dict[str, float]:
    """Validation metrics, with every count summed over ranks before dividing.

    Uses the unwrapped model: a DDP forward would sync buffers and hang on uneven shards.
    ``inference`` is ``'logits'`` (top-k accuracy) or ``'embeddings'`` (rank-1 against the
    training set).
    """
    model.eval()
    topk = tuple(getattr(model, "topk", (1, 5)))
    loss_sum, n = 0.0, 0
    hits = torch.zeros(len(topk) if inference == "logits" else 1, dtype=torch.float64)
    queries: list[Tensor] = []
    query_labels: list[Tensor] = []
    for batch in val_loader:
        batch = to_device(batch, runtime.device)
        out = model(batch)
        loss, _ = losses(out["training_feat"])
        b = int(batch["labels"].shape[0])
        loss_sum += float(loss) * b
        n += b
        labels = batch["labels"].view(-1, 1)
        if inference == "logits":
            logits = out["inference_feat"]["logits"]
            ranked = logits.topk(min(max(topk), logits.shape[1]), dim=1).indices == labels
            hits += torch.tensor(
                [float(ranked[:, :k].any(dim=1).sum()) for k in topk], dtype=torch.float64
            )
        else:
            queries.append(out["inference_feat"]["embeddings"].float().cpu())
            query_labels.append(labels.view(-1).cpu())
    if queries:
        hits[0] = _rank1_hits(
            model, torch.cat(queries), torch.cat(query_labels), gallery_set, batch_size, runtime
        )
    model.train()
    totals = runtime.all_reduce_sum(
        torch.cat([torch.tensor([loss_sum, n], dtype=torch.float64), hits])
    )
    denom = max(float(totals[1]), 1.0)
    names = [f"val/top{k}" for k in topk] if inference == "logits" else ["val/rank1"]
    return {
        "val/loss": float(totals[0]) / denom,
        **{m: 100.0 * float(h) / denom for m, h in zip(names, totals[2:])},
    }


def _rank1_hits(
    model: BaseModel,
    queries: Tensor,
    query_labels: Tensor,
    gallery_set: Dataset,
    batch_size: int,
    runtime: Runtime,
) -> float:
    """Nearest-neighbour rank-1 hits of this rank's queries against the training set."""
    gallery, gallery_labels = [], []
    for batch in DataLoader(gallery_set, batch_size=batch_size):
        batch = to_device(batch, runtime.device)
        gallery.append(model(batch)["inference_feat"]["embeddings"].float().cpu())
        gallery_labels.append(batch["labels"].cpu())
    g, gl = torch.cat(gallery), torch.cat(gallery_labels)
    nearest = torch.cdist(queries, g).argmin(dim=1)
    return float((gl[nearest] == query_labels).sum())
