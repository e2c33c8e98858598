"""The ViT classification head (mmpretrain's ``VisionTransformerClsHead``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ablate import HEADS
from ablate_components.heads.cls_heads import ClsHead


@HEADS.register_module()
class VisionTransformerClsHead(ClsHead):
    """Optional pre-logits Linear + tanh (the ViT paper's pre-training head), then a Linear.

    Args:
        num_classes: Number of classes.
        in_channels: Input width (the class token's); inferred when omitted.
        hidden_dim: Width of the pre-logits layer; None for a single Linear.
        loss, topk, cal_acc, init_cfg: See ``ClsHead``.

    Shapes:
        (N, in_channels) (or a tuple whose last entry is that, e.g. a ViT with
        ``out_type: cls_token``) -> (N, num_classes).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int | None = None,
        hidden_dim: int | None = None,
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
        if hidden_dim is not None and hidden_dim < 1:
            raise ValueError(f"hidden_dim must be positive or null, got {hidden_dim}")
        self.hidden_dim = hidden_dim
        if hidden_dim is None:
            self.pre_logits_fc = None
            self.fc = nn.Linear(in_channels, num_classes)
        else:
            self.pre_logits_fc = nn.Linear(in_channels, hidden_dim)
            self.act = nn.Tanh()
            self.fc = nn.Linear(hidden_dim, num_classes)
            # LeCun normal, as mmpretrain: keeps tanh out of saturation at the start.
            nn.init.trunc_normal_(self.pre_logits_fc.weight, std=math.sqrt(1.0 / in_channels))
            nn.init.zeros_(self.pre_logits_fc.bias)

    def pre_logits(self, feats: Any) -> Tensor:
        """The class token, or tanh of the pre-logits layer: (N, hidden_dim or in_channels)."""
        x = super().pre_logits(feats)
        if self.pre_logits_fc is None:
            return x
        return self.act(self.pre_logits_fc(x))

    def forward(self, feats: Any) -> Tensor:
        return self.fc(self.pre_logits(feats))
