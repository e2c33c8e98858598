"""Sigmoid focal loss (Lin et al., 2017) with mmpretrain's arguments and reduction rules."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ablate import LOSSES, BaseLoss, weighted_loss


@weighted_loss
def _sigmoid_focal(logits: Tensor, target: Tensor, gamma: float, alpha: float) -> Tensor:
    prob = logits.sigmoid()
    pt = (1 - prob) * target + prob * (1 - target)  # 1 - p_t: large where the model is wrong
    focal_weight = (alpha * target + (1 - alpha) * (1 - target)) * pt.pow(gamma)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none") * focal_weight


@LOSSES.register_module()
class FocalLoss(BaseLoss):
    """Per-class sigmoid focal loss: down-weights well-classified examples by ``(1 - p_t)**gamma``.

    As in mmpretrain, every (sample, class) pair is a binary problem, so ``mean`` averages
    over N * C elements (with ``gamma=0`` and ``alpha=0.5`` it is half the mean binary
    cross-entropy), and ``weight`` is per sample.

    Args:
        gamma: Focusing exponent, >= 0; 0 gives (alpha-weighted) binary cross-entropy.
        alpha: Weight of the positive class in [0, 1]; negatives get ``1 - alpha``.
        loss_weight: Scale of the loss.
        reduction: ``mean``, ``sum`` or ``none``.

    Shapes:
        logits (N, C); labels (N,) int64 class indices or (N, C) float targets;
        weight (N,) -> scalar, or (N, C) with ``none``.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float = 0.25,
        loss_weight: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(loss_weight, reduction)
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.gamma = gamma
        self.alpha = alpha

    def forward(
        self,
        logits: Tensor,
        labels: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> Tensor:
        if logits.dim() != 2:
            raise ValueError(f"FocalLoss expects logits (N, C), got {tuple(logits.shape)}")
        reduction = self.pick_reduction(reduction_override)
        if labels.dim() == 1:
            target = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
        elif labels.shape == logits.shape:
            target = labels.to(logits.dtype)
        else:
            raise ValueError(
                f"FocalLoss expects labels (N,) or (N, C) like logits {tuple(logits.shape)}, "
                f"got {tuple(labels.shape)}"
            )
        if weight is not None:
            weight = weight.to(logits.dtype).reshape(-1, 1)  # per sample, over every class
        loss = _sigmoid_focal(
            logits,
            target,
            weight,
            reduction=reduction,
            avg_factor=avg_factor,
            gamma=self.gamma,
            alpha=self.alpha,
        )
        return self.loss_weight * loss
