"""ResNet (18/34/50) and ResNet_CIFAR (3x3 stem, no max-pool), mmpretrain-shaped.

Both return a tuple with the output of each stage in ``out_indices``: shapes
(N, base_channels * 2**i * expansion, H_i, W_i).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from ablate import BACKBONES, BaseModule


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, planes * self.expansion, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, planes * 4, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


@BACKBONES.register_module()
class ResNet(BaseModule):
    """ResNet backbone.

    Args:
        depth: 18, 34 or 50.
        in_channels: Input image channels.
        base_channels: Width of the first stage (64 in the paper; smaller is faster).
        num_stages: 1 to 4.
        strides: Stride of each stage.
        out_indices: Which stages to return, as a tuple.
        zero_init_residual: Zero the last BN of each block (a common trick).
        init_cfg: See ``ablate.nn.weights``.

    Shapes:
        inputs (N, in_channels, H, W) -> tuple of (N, C_i, H_i, W_i).
    """

    arch_settings: ClassVar[dict[int, tuple[type[nn.Module], tuple[int, ...]]]] = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
    }

    def __init__(
        self,
        depth: int = 18,
        in_channels: int = 3,
        base_channels: int = 64,
        num_stages: int = 4,
        strides: Sequence[int] = (1, 2, 2, 2),
        out_indices: Sequence[int] = (3,),
        zero_init_residual: bool = True,
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise ValueError(f"depth must be one of {sorted(self.arch_settings)}, got {depth}")
        if not 1 <= num_stages <= 4:
            raise ValueError(f"num_stages must be 1 to 4, got {num_stages}")
        if len(strides) < num_stages:
            raise ValueError(f"strides needs {num_stages} entries, got {list(strides)}")
        bad = [i for i in out_indices if not 0 <= i < num_stages]
        if bad:
            raise ValueError(
                f"out_indices {list(out_indices)} out of range for num_stages={num_stages}"
            )
        block, counts = self.arch_settings[depth]
        self.out_indices = tuple(out_indices)
        self.stem = self._make_stem(in_channels, base_channels)
        layers, cin = [], base_channels
        for i in range(num_stages):
            planes = base_channels * 2**i
            blocks = [block(cin, planes, strides[i])]
            cin = planes * block.expansion
            blocks += [block(cin, planes) for _ in range(counts[i] - 1)]
            layers.append(nn.Sequential(*blocks))
        self.layers = nn.ModuleList(layers)
        self.out_channels = [base_channels * 2**i * block.expansion for i in range(num_stages)]
        self._default_init(zero_init_residual)

    def _make_stem(self, in_channels: int, base: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(in_channels, base, 7, 2, 3, bias=False),
            nn.BatchNorm2d(base),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )

    def _default_init(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)
                elif isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        if x.dim() != 4:
            raise ValueError(
                f"{type(self).__name__} expects (N, C, H, W) inputs, got {tuple(x.shape)}"
            )
        x = self.stem(x)
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


@BACKBONES.register_module()
class ResNet_CIFAR(ResNet):  # the name users know from mmpretrain
    """ResNet for small images: a 3x3 stride-1 stem and no max-pool. Same arguments as ResNet."""

    def _make_stem(self, in_channels: int, base: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(in_channels, base, 3, 1, 1, bias=False),
            nn.BatchNorm2d(base),
            nn.ReLU(inplace=True),
        )
