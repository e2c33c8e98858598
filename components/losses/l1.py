"""Mean absolute error, for regression-style targets."""

from __future__ import annotations

from torch import Tensor

from ablate import LOSSES, BaseLoss, weighted_loss


@weighted_loss
def _l1(pred: Tensor, target: Tensor) -> Tensor:
    return (pred - target).abs()


@LOSSES.register_module()
class L1Loss(BaseLoss):
    """Elementwise ``|pred - target|``, weighted and reduced as every ablate loss.

    Its ``training_feat`` entry must hold the keys ``pred`` and ``target``, so it fits a model
    that returns them (a custom ``BaseModel``); ``ImageClassifier`` returns ``logits``/``labels``
    and belongs with a classification loss.

    Args:
        loss_weight: Scale of the loss.
        reduction: ``mean``, ``sum`` or ``none``.

    Shapes:
        pred (N, ...), target of the same shape (no silent broadcasting), weight broadcastable
        to it -> scalar, or (N, ...) with ``none``.
    """

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(loss_weight, reduction)

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
                f"L1Loss expects pred and target of one shape, got {tuple(pred.shape)} "
                f"and {tuple(target.shape)}"
            )
        reduction = self.pick_reduction(reduction_override)
        loss = _l1(pred, target.to(pred.dtype), weight, reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss
