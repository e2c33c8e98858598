"""Classification heads. A head takes the neck's output (a tuple of stages, the last used)
and returns logits (N, num_classes); its ``loss`` config becomes the model's default loss."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ablate import HEADS, BaseModule
from ablate.nn.heads import as_topk

DEFAULT_LOSS = {"type": "CrossEntropyLoss"}


class ClsHead(BaseModule):
    """Base head: ``pre_logits`` picks the last stage; subclasses add layers.

    Args:
        loss: Loss config for the ``cls`` prefix.
        topk: Accuracies to report (``val/top1``, ``val/top5``); ``1`` means ``(1,)``.
        cal_acc: Also log the training batches' top-k accuracy (``train/accuracy_top-1``),
            as mmpretrain's; pointless under batch mixing such as Mixup.
        init_cfg: See ``ablate.nn.weights``.
    """

    output = "logits"

    def __init__(
        self,
        loss: dict[str, Any] | None = None,
        topk: int | Sequence[int] = (1, 5),
        cal_acc: bool = False,
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        topk = as_topk(topk)
        if not topk or any(k < 1 for k in topk):
            raise ValueError(f"topk must be positive integers, got {list(topk)}")
        self.loss_cfg = dict(loss) if loss is not None else dict(DEFAULT_LOSS)
        self.topk = topk
        self.cal_acc = cal_acc

    def pre_logits(self, feats: Any) -> Tensor:
        """The features right before the classifier layer, (N, C)."""
        x = feats[-1] if isinstance(feats, tuple | list) else feats
        if x.dim() != 2:
            raise ValueError(
                f"{type(self).__name__} expects pooled (N, C) features, got {tuple(x.shape)}; add a pooling neck"
            )
        return x


@HEADS.register_module()
class LinearClsHead(ClsHead):
    """One linear layer: (N, in_channels) -> (N, num_classes).

    Args:
        num_classes: Number of classes.
        in_channels: Input width; inferred from the sample batch when omitted.
        loss, topk, cal_acc, init_cfg: See ``ClsHead``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int | None = None,
        loss: dict[str, Any] | None = None,
        topk: int | Sequence[int] = (1, 5),
        cal_acc: bool = False,
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(loss, topk, cal_acc, init_cfg)
        if in_channels is None:
            raise ValueError(
                "in_channels is required when there is no sample batch to infer it from"
            )
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, feats: Any) -> Tensor:
        return self.fc(self.pre_logits(feats))
