"""Classification metrics on ``inference_feat['logits']`` (N, C) and ``batch['labels']`` (N,).

Accuracy, F1, precision and recall are percentages, as ``val/top1`` always was.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.functional.classification import (
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)
from torchmetrics.utilities import dim_zero_cat

from ablate import METRICS, BaseMetric


def _check_logits(preds: Tensor, target: Tensor) -> None:
    if preds.ndim != 2:
        raise ValueError(f"expects logits of shape (N, C), got {tuple(preds.shape)}")
    if target.ndim != 1 or target.shape[0] != preds.shape[0]:
        raise ValueError(
            f"expects labels of shape ({preds.shape[0]},) for logits {tuple(preds.shape)}, "
            f"got {tuple(target.shape)}"
        )


@METRICS.register_module()
class Accuracy(BaseMetric):
    """Top-k accuracy, in percent: ``top1``, ``top5``, ... (k above C counts every class).

    Args:
        topk: The k of each ``top<k>``; an int means one.
        pred_key: The ``inference_feat`` key of the logits (N, C).
        target_key: The batch key of the labels (N,).
    """

    def __init__(
        self,
        topk: int | list[int] | tuple[int, ...] = (1, 5),
        pred_key: str = "logits",
        target_key: str = "labels",
    ) -> None:
        super().__init__({"preds": f"inference_feat.{pred_key}", "target": f"batch.{target_key}"})
        ks = (topk,) if isinstance(topk, int) else tuple(topk)
        if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
            raise ValueError(f"topk must be positive whole numbers, got {topk!r}")
        self.topk = tuple(dict.fromkeys(ks))
        self.add_state("hits", torch.zeros(len(self.topk), dtype=torch.float64), "sum")
        self.add_state("n", torch.zeros((), dtype=torch.float64), "sum")

    def names(self) -> list[str]:
        return [f"top{k}" for k in self.topk]

    def check(self, preds: Tensor, target: Tensor) -> None:
        _check_logits(preds, target)

    def update(self, preds: Tensor, target: Tensor) -> None:
        ranked = preds.topk(min(max(self.topk), preds.shape[1]), dim=1).indices == target.view(
            -1, 1
        )
        self.hits += torch.stack([ranked[:, :k].any(dim=1).sum() for k in self.topk]).to(self.hits)
        self.n += target.shape[0]

    def compute(self) -> dict[str, Tensor]:
        rates = 100.0 * self.hits / self.n.clamp(min=1)
        return dict(zip(self.names(), rates))


class _LabelMetric(BaseMetric):
    """Keeps every arg-max prediction and label (gathered over ranks); C is the logits' width."""

    def __init__(self, pred_key: str, target_key: str) -> None:
        super().__init__({"preds": f"inference_feat.{pred_key}", "target": f"batch.{target_key}"})
        self.add_state("pred_labels", [], "cat")
        self.add_state("true_labels", [], "cat")
        self.add_state("num_classes", torch.zeros((), dtype=torch.long), "max")

    def check(self, preds: Tensor, target: Tensor) -> None:
        _check_logits(preds, target)

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.pred_labels.append(preds.argmax(dim=1))
        self.true_labels.append(target.long())
        width = torch.tensor(preds.shape[1], device=self.num_classes.device)
        self.num_classes = torch.maximum(self.num_classes, width)

    def _labels(self) -> tuple[Tensor, Tensor, int]:
        return dim_zero_cat(self.pred_labels), dim_zero_cat(self.true_labels), int(self.num_classes)


_MACRO = {"f1": multiclass_f1_score, "precision": multiclass_precision, "recall": multiclass_recall}


class _Macro(_LabelMetric):
    """A macro average over classes, in percent (classes never seen nor predicted are left out)."""

    score = "f1"

    def __init__(self, pred_key: str = "logits", target_key: str = "labels") -> None:
        super().__init__(pred_key, target_key)

    def names(self) -> list[str]:
        return [self.score]

    def compute(self) -> dict[str, Tensor]:
        preds, target, classes = self._labels()
        value = _MACRO[self.score](preds, target, num_classes=classes, average="macro")
        return {self.score: 100.0 * value.double()}


@METRICS.register_module()
class MacroF1(_Macro):
    """Macro-averaged F1 of the arg-max class, in percent: ``f1``.

    Args:
        pred_key: The ``inference_feat`` key of the logits (N, C).
        target_key: The batch key of the labels (N,).
    """

    score = "f1"


@METRICS.register_module()
class MacroPrecision(_Macro):
    """Macro-averaged precision of the arg-max class, in percent: ``precision``.

    Args:
        pred_key: The ``inference_feat`` key of the logits (N, C).
        target_key: The batch key of the labels (N,).
    """

    score = "precision"


@METRICS.register_module()
class MacroRecall(_Macro):
    """Macro-averaged recall of the arg-max class, in percent: ``recall``.

    Args:
        pred_key: The ``inference_feat`` key of the logits (N, C).
        target_key: The batch key of the labels (N,).
    """

    score = "recall"


@METRICS.register_module()
class ConfusionMatrix(_LabelMetric):
    """The (C, C) counts of true class (rows) by predicted class: the artifact ``confusion``.

    No scalar: it is kept with the trial (``confusion/<split>.json``) and drawn in the report.

    Args:
        pred_key: The ``inference_feat`` key of the logits (N, C).
        target_key: The batch key of the labels (N,).
    """

    artifacts = ("confusion",)

    def __init__(self, pred_key: str = "logits", target_key: str = "labels") -> None:
        super().__init__(pred_key, target_key)

    def names(self) -> list[str]:
        return []

    def compute(self) -> dict[str, Tensor]:
        preds, target, classes = self._labels()
        return {"confusion": multiclass_confusion_matrix(preds, target, num_classes=classes)}
