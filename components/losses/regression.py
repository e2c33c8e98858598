"""Squared and smooth-L1 errors, for regression targets (see ``l1`` for their base)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ablate import LOSSES, weighted_loss
from ablate_components.losses.l1 import ElementwiseLoss


@weighted_loss
def _squared(pred: Tensor, target: Tensor) -> Tensor:
    return (pred - target) ** 2


@weighted_loss
def _smooth_l1(pred: Tensor, target: Tensor, beta: float = 1.0) -> Tensor:
    diff = (pred - target).abs()
    # Quadratic within beta of the target, linear beyond: L1's robustness to outliers
    # with a gradient that vanishes at the optimum.
    return torch.where(diff < beta, 0.5 * diff**2 / beta, diff - 0.5 * beta)


@LOSSES.register_module()
class MSELoss(ElementwiseLoss):
    """Elementwise ``(pred - target)**2``.

    Args:
        loss_weight: Scale of the loss.
        reduction: ``mean``, ``sum`` or ``none``.

    Shapes:
        pred (N, ...), target of the same shape -> scalar, or (N, ...) with ``none``.
    """

    function = staticmethod(_squared)

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(loss_weight, reduction)


@LOSSES.register_module()
class SmoothL1Loss(ElementwiseLoss):
    """Huber-style loss: ``0.5 d**2 / beta`` where ``d = |pred - target| < beta``, else
    ``d - 0.5 beta`` (mmdet's ``SmoothL1Loss``).

    Args:
        beta: Where the quadratic part meets the linear one; > 0.
        loss_weight: Scale of the loss.
        reduction: ``mean``, ``sum`` or ``none``.

    Shapes:
        pred (N, ...), target of the same shape -> scalar, or (N, ...) with ``none``.
    """

    function = staticmethod(_smooth_l1)

    def __init__(
        self, beta: float = 1.0, loss_weight: float = 1.0, reduction: str = "mean"
    ) -> None:
        super().__init__(loss_weight, reduction)
        if beta <= 0:
            raise ValueError(f"beta must be positive, got {beta}")
        self.beta = beta

    def extra(self) -> dict[str, Any]:
        return {"beta": self.beta}
