"""A plain CNN: stages of conv-norm-act, the smallest useful baseline for an ablation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ablate import BACKBONES, BaseModule
from ablate_components.layers import Activation, check_out_indices, make_activation


@BACKBONES.register_module()
class ConvNet(BaseModule):
    """Stages of 3x3 conv -> BatchNorm -> activation, without residuals.

    Each stage starts with a conv of the stage's stride (the downsampling), followed by
    ``convs_per_stage - 1`` stride-1 convs of the same width.

    Args:
        in_channels: Input image channels.
        widths: Output channels of each stage; its length is the number of stages.
        convs_per_stage: Conv layers per stage (the depth knob).
        strides: Stride of each stage; default 1 for the first stage and 2 after.
        norm: BatchNorm after each conv (else the conv has a bias).
        act: Activation name: ``relu``, ``gelu``, ``silu`` or ``tanh``.
        out_indices: Stages to return; negative indices count from the last stage.
        init_cfg: See ``ablate.nn.weights``.

    Shapes:
        inputs (N, in_channels, H, W) -> tuple of (N, widths[i], H_i, W_i), with
        H_i = H / prod(strides[: i + 1]) (rounded up).
    """

    def __init__(
        self,
        in_channels: int = 3,
        widths: Sequence[int] = (32, 64, 128),
        convs_per_stage: int = 1,
        strides: Sequence[int] | None = None,
        norm: bool = True,
        act: Activation = "relu",
        out_indices: Sequence[int] = (-1,),
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if not widths or any(w < 1 for w in widths):
            raise ValueError(
                f"widths must be a non-empty list of positive ints, got {list(widths)}"
            )
        if convs_per_stage < 1:
            raise ValueError(f"convs_per_stage must be at least 1, got {convs_per_stage}")
        strides = tuple(strides) if strides is not None else (1,) + (2,) * (len(widths) - 1)
        if len(strides) != len(widths) or any(s < 1 for s in strides):
            raise ValueError(
                f"strides needs {len(widths)} positive entries (one per width), got {list(strides)}"
            )
        self.out_indices = check_out_indices(out_indices, len(widths), "stages")
        stages, cin = [], in_channels
        for width, stride in zip(widths, strides):
            layers: list[nn.Module] = []
            for j in range(convs_per_stage):
                layers.append(nn.Conv2d(cin, width, 3, stride if j == 0 else 1, 1, bias=not norm))
                if norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(make_activation(act))
                cin = width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.out_channels = list(widths)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        if x.dim() != 4:
            raise ValueError(f"ConvNet expects (N, C, H, W) inputs, got {tuple(x.shape)}")
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
