"""Single-object box metrics, OPE style (OTB/LaSOT's one-pass evaluation): the IoU of each
predicted box with its ground truth. Boxes are ``(x1, y1, x2, y2)``, normalised to [0, 1]:
``inference_feat['boxes']`` (N, 4) against ``batch['gt_boxes']`` (N, 4)."""

from __future__ import annotations

import torch
from torch import Tensor

from ablate import METRICS, BaseMetric


def box_iou(pred: Tensor, gt: Tensor) -> Tensor:
    """Row-wise IoU of (N, 4) xyxy boxes: (N,). A degenerate box has IoU 0."""
    lo = torch.maximum(pred[:, :2], gt[:, :2])
    hi = torch.minimum(pred[:, 2:], gt[:, 2:])
    inter = (hi - lo).clamp(min=0).prod(dim=1)
    area = (pred[:, 2:] - pred[:, :2]).clamp(min=0).prod(dim=1)
    gt_area = (gt[:, 2:] - gt[:, :2]).clamp(min=0).prod(dim=1)
    union = area + gt_area - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(union))


class _BoxMetric(BaseMetric):
    def __init__(self, pred_key: str, target_key: str) -> None:
        super().__init__({"boxes": f"inference_feat.{pred_key}", "gt": f"batch.{target_key}"})

    def check(self, boxes: Tensor, gt: Tensor) -> None:
        if boxes.ndim != 2 or boxes.shape[1] != 4 or gt.shape != boxes.shape:
            raise ValueError(
                f"expects boxes and ground truth of shape (N, 4), xyxy; got boxes "
                f"{tuple(boxes.shape)} and ground truth {tuple(gt.shape)}"
            )


@METRICS.register_module()
class BoxIoU(_BoxMetric):
    """Mean IoU of each box with its ground truth: ``iou``, in [0, 1].

    Args:
        pred_key: The ``inference_feat`` key of the predicted boxes (N, 4).
        target_key: The batch key of the ground-truth boxes (N, 4).
    """

    def __init__(self, pred_key: str = "boxes", target_key: str = "gt_boxes") -> None:
        super().__init__(pred_key, target_key)
        self.add_state("total", torch.zeros((), dtype=torch.float64), "sum")
        self.add_state("n", torch.zeros((), dtype=torch.float64), "sum")

    def names(self) -> list[str]:
        return ["iou"]

    def update(self, boxes: Tensor, gt: Tensor) -> None:
        self.total += box_iou(boxes.double(), gt.double()).sum()
        self.n += gt.shape[0]

    def compute(self) -> dict[str, Tensor]:
        return {"iou": self.total / self.n.clamp(min=1)}


@METRICS.register_module()
class SuccessAUC(_BoxMetric):
    """The area under the OPE success plot: ``success_auc``, in [0, 1].

    The success rate at threshold t is the share of boxes with IoU > t; the AUC is its mean
    over ``thresholds`` evenly spaced values from 0 to 1 (OTB's 21: 0, 0.05, ..., 1).

    Args:
        thresholds: How many IoU thresholds, from 0 to 1 inclusive.
        pred_key: The ``inference_feat`` key of the predicted boxes (N, 4).
        target_key: The batch key of the ground-truth boxes (N, 4).
    """

    def __init__(
        self, thresholds: int = 21, pred_key: str = "boxes", target_key: str = "gt_boxes"
    ) -> None:
        super().__init__(pred_key, target_key)
        if isinstance(thresholds, bool) or not isinstance(thresholds, int) or thresholds < 2:
            raise ValueError(f"thresholds must be a whole number >= 2, got {thresholds!r}")
        self.register_buffer("levels", torch.linspace(0, 1, thresholds, dtype=torch.float64))
        self.add_state("success", torch.zeros(thresholds, dtype=torch.float64), "sum")
        self.add_state("n", torch.zeros((), dtype=torch.float64), "sum")

    def names(self) -> list[str]:
        return ["success_auc"]

    def update(self, boxes: Tensor, gt: Tensor) -> None:
        iou = box_iou(boxes.double(), gt.double())
        self.success += (iou[:, None] > self.levels[None, :]).sum(dim=0).double()
        self.n += gt.shape[0]

    def compute(self) -> dict[str, Tensor]:
        return {"success_auc": (self.success / self.n.clamp(min=1)).mean()}
