"""An MLP classification head (mmpretrain's ``StackedLinearClsHead``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor, nn

from ablate import HEADS
from ablate_components.heads.cls_heads import ClsHead
from ablate_components.layers import Activation, make_activation

NORMS = ("none", "batch", "layer")


@HEADS.register_module()
class StackedLinearClsHead(ClsHead):
    """Hidden blocks of Linear -> norm -> act -> dropout, then a Linear to the classes.

    Args:
        num_classes: Number of classes.
        in_channels: Input width; inferred from the sample batch when omitted.
        mid_channels: Width of each hidden block (an int for one block).
        dropout_rate: Dropout after each hidden block, in [0, 1).
        act: Activation name: ``relu``, ``gelu``, ``silu`` or ``tanh``.
        norm: ``none``, ``batch`` (BatchNorm1d) or ``layer`` (LayerNorm) in each hidden block.
        loss, topk, cal_acc, init_cfg: See ``ClsHead``.

    Shapes:
        (N, in_channels) (or a tuple whose last entry is that) -> (N, num_classes).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int | None = None,
        mid_channels: Sequence[int] | int = (256,),
        dropout_rate: float = 0.0,
        act: Activation = "relu",
        norm: Literal["none", "batch", "layer"] = "none",
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
        mids = [mid_channels] if isinstance(mid_channels, int) else list(mid_channels)
        if not mids or any(m < 1 for m in mids):
            raise ValueError(
                f"mid_channels must be positive widths, got {mid_channels!r} "
                "(for no hidden layer use LinearClsHead)"
            )
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        blocks: list[nn.Module] = []
        cin = in_channels
        for width in mids:
            layers: list[nn.Module] = [nn.Linear(cin, width)]
            if norm == "batch":
                layers.append(nn.BatchNorm1d(width))
            elif norm == "layer":
                layers.append(nn.LayerNorm(width))
            layers += [make_activation(act), nn.Dropout(dropout_rate)]
            blocks.append(nn.Sequential(*layers))
            cin = width
        self.mid_layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def pre_logits(self, feats: Any) -> Tensor:
        """The last hidden block's output, (N, mid_channels[-1])."""
        return self.mid_layers(super().pre_logits(feats))

    def forward(self, feats: Any) -> Tensor:
        return self.fc(self.pre_logits(feats))
