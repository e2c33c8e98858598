"""Cross-entropy with mmpretrain's arguments and reduction rules: softmax (hard or soft
targets) or per-class sigmoid, class weights, label smoothing."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ablate import LOSSES, BaseLoss, weight_reduce_loss


@LOSSES.register_module()
class CrossEntropyLoss(BaseLoss):
    """Softmax cross-entropy, or with ``use_sigmoid`` a binary cross-entropy per class.

    Args:
        use_sigmoid: Per-class sigmoid (multi-label); ``mean`` averages over N * C.
        use_soft: Targets are (N, C) class probabilities (Mixup, CutMix), softmax only.
        label_smoothing: Mass moved uniformly onto all classes, in [0, 1); softmax only.
        class_weight: A weight per class (C,).
        pos_weight: With ``use_sigmoid``, a weight per class for the positive term (C,).
        loss_weight: Scale of the loss.
        reduction: ``mean``, ``sum`` or ``none``.

    Shapes:
        logits (N, C); labels (N,) int64, or (N, C) float with ``use_soft`` / ``use_sigmoid``;
        weight (N,) -> scalar (or (N,) with ``none``; (N, C) for ``use_sigmoid``).
    """

    def __init__(
        self,
        use_sigmoid: bool = False,
        use_soft: bool = False,
        label_smoothing: float = 0.0,
        class_weight: Sequence[float] | None = None,
        pos_weight: Sequence[float] | None = None,
        loss_weight: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(loss_weight, reduction)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if use_sigmoid and (use_soft or label_smoothing):
            raise ValueError("use_sigmoid takes neither use_soft nor label_smoothing")
        if pos_weight is not None and not use_sigmoid:
            raise ValueError("pos_weight needs use_sigmoid=True")
        self.use_sigmoid, self.use_soft = use_sigmoid, use_soft
        self.label_smoothing = label_smoothing
        self.class_weight = None if class_weight is None else torch.tensor(class_weight)
        self.pos_weight = None if pos_weight is None else torch.tensor(pos_weight)

    def _per_class(self, name: str, value: Tensor | None, logits: Tensor) -> Tensor | None:
        if value is None:
            return None
        if value.numel() != logits.shape[1]:
            raise ValueError(f"{name} has {value.numel()} entries for {logits.shape[1]} classes")
        return value.to(logits)

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
        class_weight = self._per_class("class_weight", self.class_weight, logits)
        soft = self.use_soft or self.use_sigmoid
        if soft and labels.shape != logits.shape and labels.dim() != 1:
            raise ValueError(
                f"expects labels (N,) or (N, C) like logits {tuple(logits.shape)}, "
                f"got {tuple(labels.shape)}"
            )
        if self.use_sigmoid:
            target = (
                labels.to(logits)
                if labels.dim() == 2
                else F.one_hot(labels, logits.shape[1]).to(logits)
            )
            loss = F.binary_cross_entropy_with_logits(
                logits,
                target,
                weight=class_weight,
                pos_weight=self._per_class("pos_weight", self.pos_weight, logits),
                reduction="none",
            )
            if weight is not None:
                weight = weight.to(logits).reshape(-1, 1)  # per sample, over every class
        else:
            target = labels.to(logits) if self.use_soft and labels.dim() == 2 else labels
            loss = F.cross_entropy(
                logits,
                target,
                weight=class_weight,
                reduction="none",
                label_smoothing=self.label_smoothing,
            )
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)
