"""What a head brings along, mmpretrain style: a head that owns its loss, and ``topk``.

An mmpretrain head builds ``self.loss_module`` itself and offers ``loss(feats, targets)``
(a tensor, or a dict of named losses and logged values) and ``predict(feats)``. Such a head
works inside ``ImageClassifier`` unchanged: the model calls ``loss`` in its forward, and
:class:`HeadLoss` turns what came back into the ``cls`` loss term.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn


def owns_loss(head: nn.Module) -> bool:
    """Whether ``head`` computes its own loss (defines a ``loss`` method)."""
    return callable(getattr(type(head), "loss", None))


def as_topk(topk: int | Sequence[int]) -> tuple[int, ...]:
    """mmpretrain's ``topk: 1`` means ``(1,)``."""
    if isinstance(topk, int):
        return (int(topk),)
    return tuple(topk)


def _total(value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return value.mean()
    if isinstance(value, Sequence) and value and all(isinstance(v, Tensor) for v in value):
        return torch.stack([v.mean() for v in value]).sum()
    raise ValueError(f"a loss entry must be a tensor or a list of tensors, got {value!r}")


class HeadLoss(nn.Module):
    """The ``cls`` loss of a head that owns its loss: the sum of every entry whose name
    contains ``loss`` (mmengine's rule); the other entries (``accuracy_top-1``) are logged.

    Shapes:
        losses: a tensor, or ``{name: tensor | [tensor, ...]}`` -> ``(scalar, info)``.
    """

    def forward(self, losses: Tensor | Mapping[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        if isinstance(losses, Tensor):
            return losses.mean(), {}
        if not isinstance(losses, Mapping) or not any("loss" in k for k in losses):
            raise ValueError(
                "a head's loss() must return a tensor or a dict with a 'loss' entry, "
                f"got {losses!r:.80}"
            )
        parts = {k: _total(v) for k, v in losses.items() if "loss" in k}
        info: dict[str, Any] = {k: v.detach() for k, v in parts.items()} if len(parts) > 1 else {}
        for k, v in losses.items():
            if "loss" not in k:
                info[k] = _total(v).detach()
        return torch.stack(list(parts.values())).sum(), info


__all__ = ["HeadLoss", "as_topk", "owns_loss"]
