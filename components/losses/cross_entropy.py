"""Cross-entropy with label smoothing, mmpretrain's argument names and reduction rules."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ablate import LOSSES, BaseLoss, weighted_loss


@weighted_loss
def _cross_entropy(logits: Tensor, labels: Tensor, label_smoothing: float = 0.0) -> Tensor:
    return F.cross_entropy(logits, labels, reduction="none", label_smoothing=label_smoothing)


@LOSSES.register_module()
class CrossEntropyLoss(BaseLoss):
    """Softmax cross-entropy.

    Args:
        label_smoothing: Mass moved uniformly onto all classes, in [0, 1).
        loss_weight: Scale of the loss.
        reduction: ``mean``, ``sum`` or ``none``.

    Shapes:
        logits (N, C), labels (N,) int64 -> scalar (or (N,) with ``none``).
    """

    def __init__(
        self, label_smoothing: float = 0.0, loss_weight: float = 1.0, reduction: str = "mean"
    ) -> None:
        super().__init__(loss_weight, reduction)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def forward(
        self,
        logits: Tensor,
        labels: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> Tensor:
        if logits.dim() != 2:
            raise ValueError(f"CrossEntropyLoss expects logits (N, C), got {tuple(logits.shape)}")
        reduction = self.pick_reduction(reduction_override)
        loss = _cross_entropy(
            logits,
            labels,
            weight,
            reduction=reduction,
            avg_factor=avg_factor,
            label_smoothing=self.label_smoothing,
        )
        return self.loss_weight * loss
