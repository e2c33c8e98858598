"""A multilayer perceptron for tabular inputs: the backbone of the regression tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ablate import BACKBONES, BaseModule
from ablate_components.layers import Activation, check_out_indices, make_activation


@BACKBONES.register_module()
class MLP(BaseModule):
    """Layers of Linear -> (LayerNorm) -> activation -> (dropout).

    Args:
        in_channels: Input features.
        widths: Output width of each layer; its length is the depth.
        act: Activation name: ``relu``, ``gelu``, ``silu`` or ``tanh``.
        norm: LayerNorm after each Linear.
        dropout: Dropout probability after each activation.
        out_indices: Layers to return; negative indices count from the last.
        init_cfg: See ``ablate.nn.weights``.

    Shapes:
        inputs (N, in_channels) -> tuple of (N, widths[i]).
    """

    def __init__(
        self,
        in_channels: int,
        widths: Sequence[int] = (64, 64),
        act: Activation = "relu",
        norm: bool = False,
        dropout: float = 0.0,
        out_indices: Sequence[int] = (-1,),
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if in_channels < 1 or not widths or any(w < 1 for w in widths):
            raise ValueError(
                f"need in_channels >= 1 and positive widths, got {in_channels} and {list(widths)}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.out_indices = check_out_indices(out_indices, len(widths), "layers")
        layers, cin = [], in_channels
        for width in widths:
            block: list[nn.Module] = [nn.Linear(cin, width)]
            if norm:
                block.append(nn.LayerNorm(width))
            block.append(make_activation(act))
            if dropout:
                block.append(nn.Dropout(dropout))
            layers.append(nn.Sequential(*block))
            cin = width
        self.layers = nn.ModuleList(layers)
        self.out_channels = list(widths)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        if x.dim() != 2:
            raise ValueError(f"MLP expects (N, in_channels) inputs, got {tuple(x.shape)}")
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
