"""Batch-hard triplet loss (Hermans et al., 2017), gathered across DDP ranks."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ablate import LOSSES, BaseLoss, gather_and_scale


def pairwise_distances(x: Tensor) -> Tensor:
    """Euclidean distances (N, N) of the rows of x (N, D)."""
    sq = x.pow(2).sum(dim=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.t())
    # The clamp keeps sqrt's gradient finite where two embeddings coincide.
    return d2.clamp(min=1e-12).sqrt()


@LOSSES.register_module()
class TripletLoss(BaseLoss):
    """For each anchor, the farthest same-label and the nearest other-label sample in the
    batch give ``relu(d(a, p) - d(a, n) + margin)``; the loss is the mean over anchors that
    have both. Under DDP the batch is every rank's batch (``gather_and_scale``).

    The batch needs at least two samples of some label (a P x K sampler gives that); with
    none it returns a zero loss that still carries a gradient graph.

    Args:
        margin: Required gap between the hardest negative and hardest positive distances.
        loss_weight: Scale of the loss.

    Shapes:
        embeddings (N, D), labels (N,) -> ``(loss, info)``: a scalar, and scalars
        ``hard_pos`` / ``hard_neg`` (mean hardest distances) and ``active`` (the share of
        anchors with a non-zero loss).
    """

    def __init__(self, margin: float = 0.3, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight, "mean")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = margin

    @gather_and_scale
    def forward(self, embeddings: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, Any]]:
        if embeddings.dim() != 2 or labels.shape != embeddings.shape[:1]:
            raise ValueError(
                f"TripletLoss expects embeddings (N, D) and labels (N,), got "
                f"{tuple(embeddings.shape)} and {tuple(labels.shape)}"
            )
        dist = pairwise_distances(embeddings.float())
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        pos_mask, neg_mask = same & ~eye, ~same
        valid = pos_mask.any(dim=1) & neg_mask.any(dim=1)
        if not valid.any():
            zero = embeddings.sum() * 0.0
            return zero, {"hard_pos": 0.0, "hard_neg": 0.0, "active": 0.0}
        hard_pos = dist.masked_fill(~pos_mask, float("-inf")).amax(dim=1)[valid]
        hard_neg = dist.masked_fill(~neg_mask, float("inf")).amin(dim=1)[valid]
        per_anchor = (hard_pos - hard_neg + self.margin).relu()
        info = {
            "hard_pos": hard_pos.detach().mean(),
            "hard_neg": hard_neg.detach().mean(),
            "active": (per_anchor.detach() > 0).float().mean(),
        }
        return self.loss_weight * per_anchor.mean(), info
