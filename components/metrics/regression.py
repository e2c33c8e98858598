"""Regression metrics on ``inference_feat['preds']`` and ``batch['targets']``, both (N,) or
(N, D) and of one shape: a (N, 1) against (N,) would broadcast to (N, N) and is refused."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.utilities import dim_zero_cat

from ablate import METRICS, BaseMetric


class _Regression(BaseMetric):
    higher_is_better = False

    def __init__(self, pred_key: str = "preds", target_key: str = "targets") -> None:
        super().__init__({"preds": f"inference_feat.{pred_key}", "target": f"batch.{target_key}"})

    def check(self, preds: Tensor, target: Tensor) -> None:
        if preds.shape != target.shape or preds.ndim not in (1, 2):
            raise ValueError(
                f"expects preds and targets of one shape, (N,) or (N, D); got preds "
                f"{tuple(preds.shape)} and targets {tuple(target.shape)}"
            )


class _ErrorSum(_Regression):
    """A mean of elementwise errors, from two summed states."""

    name = "mse"

    def __init__(self, pred_key: str = "preds", target_key: str = "targets") -> None:
        super().__init__(pred_key, target_key)
        self.add_state("total", torch.zeros((), dtype=torch.float64), "sum")
        self.add_state("count", torch.zeros((), dtype=torch.float64), "sum")

    def names(self) -> list[str]:
        return [self.name]

    def error(self, diff: Tensor) -> Tensor:
        raise NotImplementedError

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.total += self.error(preds.double() - target.double()).sum()
        self.count += target.numel()

    def compute(self) -> dict[str, Tensor]:
        return {self.name: self.total / self.count.clamp(min=1)}


@METRICS.register_module()
class MSE(_ErrorSum):
    """Mean squared error over every element: ``mse`` (lower is better).

    Args:
        pred_key: The ``inference_feat`` key of the predictions, (N,) or (N, D).
        target_key: The batch key of the targets, the predictions' shape.
    """

    name = "mse"

    def error(self, diff: Tensor) -> Tensor:
        return diff.square()


@METRICS.register_module()
class MAE(_ErrorSum):
    """Mean absolute error over every element: ``mae`` (lower is better).

    Args:
        pred_key: The ``inference_feat`` key of the predictions, (N,) or (N, D).
        target_key: The batch key of the targets, the predictions' shape.
    """

    name = "mae"

    def error(self, diff: Tensor) -> Tensor:
        return diff.abs()


@METRICS.register_module()
class R2(_Regression):
    """Coefficient of determination, 1 - SS_res / SS_tot, averaged over outputs: ``r2``.

    Higher is better; 0 is predicting the mean. Needs every prediction (gathered over
    ranks), since SS_tot is about the targets' own mean.

    Args:
        pred_key: The ``inference_feat`` key of the predictions, (N,) or (N, D).
        target_key: The batch key of the targets, the predictions' shape.
    """

    higher_is_better = True

    def __init__(self, pred_key: str = "preds", target_key: str = "targets") -> None:
        super().__init__(pred_key, target_key)
        self.add_state("preds", [], "cat")
        self.add_state("targets", [], "cat")

    def names(self) -> list[str]:
        return ["r2"]

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.preds.append(preds.double().reshape(preds.shape[0], -1))
        self.targets.append(target.double().reshape(target.shape[0], -1))

    def compute(self) -> dict[str, Tensor]:
        preds, target = dim_zero_cat(self.preds), dim_zero_cat(self.targets)
        ss_res = (target - preds).square().sum(dim=0)
        ss_tot = (target - target.mean(dim=0)).square().sum(dim=0)
        return {"r2": (1.0 - ss_res / ss_tot.clamp(min=1e-12)).mean()}
