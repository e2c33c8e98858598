"""Elementwise regression losses: L1 here, MSE and smooth L1 in ``regression``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from ablate import LOSSES, BaseLoss, weighted_loss


@weighted_loss
def _l1(pred: Tensor, target: Tensor) -> Tensor:
    return (pred - target).abs()


class ElementwiseLoss(BaseLoss):
    """Base of ``pred``/``target`` losses: one shape check, then a ``weighted_loss`` function.

    Subclasses set ``function`` (a ``weighted_loss``-decorated callable) and may override
    ``extra`` to pass their own arguments to it.
    """

    function: Callable[..., Tensor]

    def extra(self) -> dict[str, Any]:
        return {}

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | None = None,
        reduction_override: str | None = None,
    ) -> Tensor:
        # (N, 1) against (N,) would broadcast to (N, N) and train on nonsense.
        if pred.shape != target.shape:
            raise ValueError(
                f"{type(self).__name__} expects pred and target of one shape, got "
                f"{tuple(pred.shape)} and {tuple(target.shape)}"
            )
        reduction = self.pick_reduction(reduction_override)
        loss = self.function(
            pred, target.to(pred.dtype), weight, reduction, avg_factor, **self.extra()
        )
        return self.loss_weight * loss


@LOSSES.register_module()
class L1Loss(ElementwiseLoss):
    """Elementwise ``|pred - target|``, weighted and reduced as every ablate loss.

    Its ``training_feat`` entry must hold the keys ``pred`` and ``target``, so it fits a model
    that returns them (``Regressor``, the box branch of ``SingleObjectLocalizer``);
    ``ImageClassifier`` returns ``logits``/``labels`` and belongs with a classification loss.

    Args:
        loss_weight: Scale of the loss.
        reduction: ``mean``, ``sum`` or ``none``.

    Shapes:
        pred (N, ...), target of the same shape (no silent broadcasting), weight broadcastable
        to it -> scalar, or (N, ...) with ``none``.
    """

    function = staticmethod(_l1)

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(loss_weight, reduction)
