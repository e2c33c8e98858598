"""IoU-style box losses in mmdet's manner: an elementwise function under ``weighted_loss``,
wrapped by a ``BaseLoss`` with ``loss_weight``/``reduction``/``avg_factor``."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ablate import LOSSES, BaseLoss, weighted_loss


def aligned_iou(pred: Tensor, target: Tensor, mode: str = "iou", eps: float = 1e-6) -> Tensor:
    """IoU (or GIoU with ``mode='giou'``) of paired boxes.

    Shapes:
        pred (N, 4), target (N, 4), both (x1, y1, x2, y2) -> (N,). A degenerate box
        (x2 < x1) has zero area, so its IoU is 0, never negative.
    """
    lt = torch.maximum(pred[:, :2], target[:, :2])
    rb = torch.minimum(pred[:, 2:], target[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=1)
    area_p = (pred[:, 2:] - pred[:, :2]).clamp(min=0).prod(dim=1)
    area_t = (target[:, 2:] - target[:, :2]).clamp(min=0).prod(dim=1)
    union = (area_p + area_t - inter).clamp(min=eps)
    iou = inter / union
    if mode == "iou":
        return iou
    # The smallest box enclosing both: GIoU penalises the empty part of it, so disjoint
    # boxes still get a gradient pulling them together (Rezatofighi et al., 2019).
    enclose = torch.maximum(pred[:, 2:], target[:, 2:]) - torch.minimum(pred[:, :2], target[:, :2])
    enclose_area = enclose.clamp(min=0).prod(dim=1).clamp(min=eps)
    return iou - (enclose_area - union) / enclose_area


@weighted_loss
def iou_loss(pred: Tensor, target: Tensor, mode: str = "linear", eps: float = 1e-6) -> Tensor:
    """``1 - IoU`` (``linear``), ``1 - IoU**2`` (``square``) or ``-log IoU`` (``log``), per box."""
    iou = aligned_iou(pred, target, "iou", eps)
    if mode == "linear":
        return 1 - iou
    if mode == "square":
        return 1 - iou**2
    return -iou.clamp(min=eps).log()


@weighted_loss
def giou_loss(pred: Tensor, target: Tensor, eps: float = 1e-6) -> Tensor:
    """``1 - GIoU`` per box, in [0, 2]."""
    return 1 - aligned_iou(pred, target, "giou", eps)


class _BoxLoss(BaseLoss):
    """Shared checks and reduction of the box losses; ``training_feat`` keys ``pred``/``target``."""

    def _check(self, pred: Tensor, target: Tensor) -> None:
        if pred.dim() != 2 or pred.shape[1] != 4 or target.shape != pred.shape:
            raise ValueError(
                f"{type(self).__name__} expects pred and target boxes (N, 4) xyxy, got "
                f"{tuple(pred.shape)} and {tuple(target.shape)}"
            )


@LOSSES.register_module()
class IoULoss(_BoxLoss):
    """IoU loss (Yu et al., 2016) on paired boxes.

    Args:
        mode: ``linear`` (1 - IoU), ``square`` (1 - IoU²) or ``log`` (-log IoU).
        eps: Floor of the union (and of IoU under ``log``).
        loss_weight: Scale of the loss.
        reduction: ``mean``, ``sum`` or ``none``.

    Shapes:
        pred (N, 4), target (N, 4) xyxy; weight (N,) -> scalar, or (N,) with ``none``.
        N = 0 gives a zero loss that keeps the graph.
    """

    def __init__(
        self,
        mode: Literal["linear", "square", "log"] = "linear",
        eps: float = 1e-6,
        loss_weight: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(loss_weight, reduction)
        if mode not in ("linear", "square", "log"):
            raise ValueError(f"mode must be 'linear', 'square' or 'log', got {mode!r}")
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}")
        self.mode, self.eps = mode, eps

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> Tensor:
        self._check(pred, target)
        reduction = self.pick_reduction(reduction_override)
        if pred.shape[0] == 0:  # no positive location: mean of nothing would be NaN
            return pred.sum() * 0.0
        loss = iou_loss(
            pred, target.to(pred.dtype), weight, reduction, avg_factor, mode=self.mode, eps=self.eps
        )
        return self.loss_weight * loss


@LOSSES.register_module()
class GIoULoss(_BoxLoss):
    """Generalised IoU loss (Rezatofighi et al., 2019): ``1 - GIoU``, in [0, 2].

    Args:
        eps: Floor of the union and of the enclosing area.
        loss_weight: Scale of the loss.
        reduction: ``mean``, ``sum`` or ``none``.

    Shapes:
        pred (N, 4), target (N, 4) xyxy; weight (N,) -> scalar, or (N,) with ``none``.
        N = 0 gives a zero loss that keeps the graph.
    """

    def __init__(
        self, eps: float = 1e-6, loss_weight: float = 1.0, reduction: str = "mean"
    ) -> None:
        super().__init__(loss_weight, reduction)
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}")
        self.eps = eps

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> Tensor:
        self._check(pred, target)
        reduction = self.pick_reduction(reduction_override)
        if pred.shape[0] == 0:
            return pred.sum() * 0.0
        loss = giou_loss(pred, target.to(pred.dtype), weight, reduction, avg_factor, eps=self.eps)
        return self.loss_weight * loss
