"""Evaluating a model on one split: the loss and every metric, over every DDP rank.

The loop calls :func:`evaluate` on ``val`` each epoch and on ``test`` once, at the end of
a trial. The loss is summed over ranks here; each metric's states are synced by
torchmetrics inside its ``compute()``, so every rank must take part in every call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ablate.layout import RESULT_ARTIFACT_PREFIX
from ablate.nn.model import BaseModel, Batch, LossAggregator
from ablate.train.metrics import BaseMetric, Mode

#: The splits: ``val`` selects (ranking, ASHA, Optuna), ``test`` only reports.
VAL, TEST = "val", "test"
ARTIFACT_PREFIX = RESULT_ARTIFACT_PREFIX


def to_device(batch: Batch, device: torch.device) -> Batch:
    if device.type == "cpu":
        return batch
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()
    }


@dataclass
class Evaluation:
    """What a split's evaluation gave: logged scalars and non-scalar artifacts."""

    scalars: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, Tensor] = field(default_factory=dict)

    def as_result(self) -> dict[str, Any]:
        """Scalars as they are, artifacts as ``artifact/<split>/<name>`` nested lists (the
        tracker writes them as JSON files; numbers only are logged as metrics)."""
        arts = {f"{ARTIFACT_PREFIX}{k}": v.tolist() for k, v in self.artifacts.items()}
        return {**self.scalars, **arts}


@torch.no_grad()
def evaluate(
    model: BaseModel,
    losses: LossAggregator,
    metrics: list[BaseMetric],
    loader: Iterable[Batch],
    split: str,
    runtime: Any,
) -> Evaluation:
    """``<split>/loss`` and every metric's ``<split>/<name>`` on this rank's shard of
    ``loader``, reduced over all ranks (``runtime.all_reduce_sum``, torchmetrics' sync).

    Uses the unwrapped model (a DDP forward would sync buffers and hang on uneven shards).
    """
    model.eval()
    for m in metrics:
        m.reset()
    loss_sum, n = 0.0, 0
    for batch in loader:
        batch = to_device(batch, runtime.device)
        out = model(batch)
        loss, _ = losses(out["training_feat"])
        b = int(batch["labels"].shape[0])
        loss_sum, n = loss_sum + float(loss) * b, n + b
        for m in metrics:
            m.update_from(out, batch)
    model.train()
    totals = runtime.all_reduce_sum(torch.tensor([loss_sum, n], dtype=torch.float64))
    result = Evaluation({f"{split}/loss": float(totals[0]) / max(float(totals[1]), 1.0)})
    for m in metrics:
        for name, value in m.results().items():
            if name in m.artifacts:
                result.artifacts[f"{split}/{name}"] = value.detach().cpu()
            else:
                result.scalars[f"{split}/{name}"] = float(value)
    return result


def metric_modes(metrics: list[BaseMetric], test: bool = False) -> dict[str, Mode]:
    """Every logged metric name (``val/top1``, ``test/mse``, the losses) with its mode."""
    splits = (VAL, TEST) if test else (VAL,)
    modes: dict[str, Mode] = {f"{s}/loss": "min" for s in splits}
    for m in metrics:
        for name in m.names():
            modes.update({f"{s}/{name}": m.mode(name) for s in splits})
    return modes


__all__ = [
    "ARTIFACT_PREFIX",
    "TEST",
    "VAL",
    "Evaluation",
    "evaluate",
    "metric_modes",
    "to_device",
]
