"""ResNet (18 to 152) and ResNet_CIFAR (3x3 stem, no max-pool), in mmpretrain's shape.

The arguments, attribute names (``conv1``, ``norm1``, ``layer1``..., ``res_layers``) and the
``_make_stem_layer(in_channels, stem_channels)`` hook are mmpretrain's, so a subclass
written for mmpretrain (its ``ResNet_CIFAR`` is one) works with only its imports changed.
Every argument is honoured; a value ablate cannot honour is a ``ValueError``.

Both return a tuple with the output of each stage in ``out_indices``: shapes
(N, base_channels * 2**i * expansion, H_i, W_i).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
import torch.utils.checkpoint as cp
from torch import Tensor, nn

from ablate import BACKBONES, BaseModule, build_conv_layer, build_norm_layer

NormCfg = dict[str, Any]
DEFAULT_NORM: NormCfg = {"type": "BN", "requires_grad": True}


class _Block(nn.Module):
    """What both residual blocks share: the shortcut and activation checkpointing."""

    expansion = 1

    def __init__(self, with_cp: bool) -> None:
        super().__init__()
        self.with_cp = with_cp
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None

    def residual(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        def inner(x: Tensor) -> Tensor:
            identity = self.downsample(x) if self.downsample is not None else x
            return self.residual(x) + identity

        # Recompute the block in backward instead of keeping its activations.
        out = (
            cp.checkpoint(inner, x, use_reentrant=False)
            if self.with_cp and x.requires_grad
            else inner(x)
        )
        return self.relu(out)


class BasicBlock(_Block):
    expansion = 1

    def __init__(
        self, cin: int, planes: int, stride: int, dilation: int, cfg: dict[str, Any]
    ) -> None:
        super().__init__(cfg["with_cp"])
        conv, norm = cfg["conv_cfg"], cfg["norm_cfg"]
        self.conv1 = build_conv_layer(conv, cin, planes, 3, stride, dilation, dilation, bias=False)
        self.bn1 = build_norm_layer(norm, planes)[1]
        self.conv2 = build_conv_layer(conv, planes, planes, 3, 1, 1, bias=False)
        self.bn2 = build_norm_layer(norm, planes)[1]

    def residual(self, x: Tensor) -> Tensor:
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


class Bottleneck(_Block):
    expansion = 4

    def __init__(
        self, cin: int, planes: int, stride: int, dilation: int, cfg: dict[str, Any]
    ) -> None:
        super().__init__(cfg["with_cp"])
        conv, norm = cfg["conv_cfg"], cfg["norm_cfg"]
        # 'pytorch' strides in the 3x3 conv, 'caffe' in the first 1x1.
        s1, s2 = (1, stride) if cfg["style"] == "pytorch" else (stride, 1)
        self.conv1 = build_conv_layer(conv, cin, planes, 1, s1, bias=False)
        self.bn1 = build_norm_layer(norm, planes)[1]
        self.conv2 = build_conv_layer(conv, planes, planes, 3, s2, dilation, dilation, bias=False)
        self.bn2 = build_norm_layer(norm, planes)[1]
        self.conv3 = build_conv_layer(conv, planes, planes * 4, 1, bias=False)
        self.bn3 = build_norm_layer(norm, planes * 4)[1]

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


@BACKBONES.register_module()
class ResNet(BaseModule):
    """ResNet backbone, with mmpretrain's arguments.

    Args:
        depth: 18, 34, 50, 101 or 152.
        in_channels: Input image channels.
        stem_channels: Output channels of the stem.
        base_channels: Width of the first stage (64 in the paper; smaller is faster).
        expansion: Block expansion; only the block's own (1 or 4), or None for it.
        num_stages: 1 to 4.
        strides: Stride of the first block of each stage.
        dilations: Dilation of each stage.
        out_indices: Which stages to return, as a tuple.
        style: ``pytorch`` (a bottleneck strides in its 3x3 conv) or ``caffe`` (in its 1x1).
        deep_stem: Three 3x3 convs instead of the 7x7 stem.
        avg_down: Downsample shortcuts with average pooling, then a stride-1 conv.
        frozen_stages: Freeze the stem and the first ``frozen_stages`` stages; -1 freezes nothing.
        conv_cfg: None (``nn.Conv2d``).
        norm_cfg: ``{type: BN, requires_grad: True}``; GN, LN and IN work too.
        norm_eval: Keep every norm layer in eval mode while training (frozen statistics).
        with_cp: Recompute each block in backward (less memory, slower).
        zero_init_residual: Zero the last norm of each block (a common trick).
        drop_path_rate: Only 0.0: this ResNet has no stochastic depth.
        init_cfg: See ``ablate.nn.weights``.

    Shapes:
        inputs (N, in_channels, H, W) -> tuple of (N, C_i, H_i, W_i).
    """

    arch_settings: ClassVar[
        dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, ...]]]
    ] = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(
        self,
        depth: int = 18,
        in_channels: int = 3,
        stem_channels: int | None = None,
        base_channels: int = 64,
        expansion: int | None = None,
        num_stages: int = 4,
        strides: Sequence[int] = (1, 2, 2, 2),
        dilations: Sequence[int] = (1, 1, 1, 1),
        out_indices: Sequence[int] = (3,),
        style: Literal["pytorch", "caffe"] = "pytorch",
        deep_stem: bool = False,
        avg_down: bool = False,
        frozen_stages: int = -1,
        conv_cfg: dict[str, Any] | None = None,
        norm_cfg: NormCfg | None = None,
        norm_eval: bool = False,
        with_cp: bool = False,
        zero_init_residual: bool = True,
        drop_path_rate: float = 0.0,
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if depth not in self.arch_settings:
            raise ValueError(f"depth must be one of {sorted(self.arch_settings)}, got {depth}")
        block, counts = self.arch_settings[depth]
        _check(block, expansion, num_stages, strides, dilations, out_indices, frozen_stages)
        if drop_path_rate != 0.0:
            raise ValueError(
                f"drop_path_rate is not supported by ResNet here, got {drop_path_rate}"
            )
        self.depth, self.deep_stem, self.avg_down = depth, deep_stem, avg_down
        self.out_indices, self.frozen_stages, self.norm_eval = (
            tuple(out_indices),
            frozen_stages,
            norm_eval,
        )
        self.conv_cfg, self.norm_cfg = conv_cfg, dict(norm_cfg or DEFAULT_NORM)
        cfg = {"conv_cfg": conv_cfg, "norm_cfg": self.norm_cfg, "style": style, "with_cp": with_cp}
        self.stem_channels = stem_channels if stem_channels is not None else base_channels
        # The stem hook may replace the max-pool (ResNet_CIFAR has none).
        self.maxpool: nn.Module = nn.MaxPool2d(3, 2, 1)
        self._make_stem_layer(in_channels, self.stem_channels)
        self.res_layers: list[str] = []
        cin = self.stem_channels
        for i in range(num_stages):
            planes = base_channels * 2**i
            layer = self._make_res_layer(
                block, cin, planes, counts[i], strides[i], dilations[i], cfg
            )
            cin = planes * block.expansion
            self.add_module(f"layer{i + 1}", layer)
            self.res_layers.append(f"layer{i + 1}")
        self.out_channels = [base_channels * 2**i * block.expansion for i in range(num_stages)]
        self._default_init(zero_init_residual)
        self._freeze_stages()

    def _make_res_layer(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        cin: int,
        planes: int,
        n: int,
        stride: int,
        dilation: int,
        cfg: dict[str, Any],
    ) -> nn.Sequential:
        first = block(cin, planes, stride, dilation, cfg)
        first.downsample = self._shortcut(cin, planes * block.expansion, stride)
        cout = planes * block.expansion
        rest = [block(cout, planes, 1, dilation, cfg) for _ in range(n - 1)]
        return nn.Sequential(first, *rest)

    def _shortcut(self, cin: int, cout: int, stride: int) -> nn.Module | None:
        if stride == 1 and cin == cout:
            return None
        norm = build_norm_layer(self.norm_cfg, cout)[1]
        if self.avg_down and stride != 1:
            pool = nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)
            return nn.Sequential(
                pool, build_conv_layer(self.conv_cfg, cin, cout, 1, bias=False), norm
            )
        return nn.Sequential(
            build_conv_layer(self.conv_cfg, cin, cout, 1, stride, bias=False), norm
        )

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        """The stem: ``conv1``/``norm1``/``relu`` (7x7, stride 2), or with ``deep_stem`` a
        ``stem`` of three 3x3 convs; ``maxpool`` follows. Subclasses override it, building
        either ``stem`` or ``conv1``/``norm1``/``relu``, and may replace ``maxpool``."""
        if self.deep_stem:
            mid = stem_channels // 2
            layers: list[nn.Module] = []
            for cin, cout, stride in (
                (in_channels, mid, 2),
                (mid, mid, 1),
                (mid, stem_channels, 1),
            ):
                layers += [
                    build_conv_layer(self.conv_cfg, cin, cout, 3, stride, 1, bias=False),
                    build_norm_layer(self.norm_cfg, cout)[1],
                    nn.ReLU(inplace=True),
                ]
            self.stem = nn.Sequential(*layers)
            return
        self.conv1 = build_conv_layer(
            self.conv_cfg, in_channels, stem_channels, 7, 2, 3, bias=False
        )
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

    def _default_init(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            for m in self.modules():
                last = m.bn3 if isinstance(m, Bottleneck) else getattr(m, "bn2", None)
                weight = getattr(last, "weight", None) if isinstance(m, _Block) else None
                if isinstance(
                    weight, torch.Tensor
                ):  # GroupNorm or LayerNorm without affine have none
                    nn.init.zeros_(weight)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        stem = (
            [self.stem]
            if self.deep_stem
            else [m for n in ("conv1", "norm1") if (m := getattr(self, n, None))]
        )
        for m in [*stem, *(getattr(self, n) for n in self.res_layers[: self.frozen_stages])]:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> ResNet:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        if x.dim() != 4:
            raise ValueError(
                f"{type(self).__name__} expects (N, C, H, W) inputs, got {tuple(x.shape)}"
            )
        # A stem hook builds either `stem` (deep_stem) or mmpretrain's conv1/norm1/relu.
        x = self.stem(x) if "stem" in self._modules else self.relu(self.norm1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def _check(
    block: type[_Block],
    expansion: int | None,
    num_stages: int,
    strides: Sequence[int],
    dilations: Sequence[int],
    out_indices: Sequence[int],
    frozen_stages: int,
) -> None:
    if expansion is not None and expansion != block.expansion:
        raise ValueError(
            f"expansion must be {block.expansion} for this depth (or None), got {expansion}"
        )
    if not 1 <= num_stages <= 4:
        raise ValueError(f"num_stages must be 1 to 4, got {num_stages}")
    if len(strides) < num_stages or len(dilations) < num_stages:
        raise ValueError(
            f"strides and dilations need {num_stages} entries, got {list(strides)} and {list(dilations)}"
        )
    bad = [i for i in out_indices if not 0 <= i < num_stages]
    if bad or not out_indices:
        raise ValueError(
            f"out_indices {list(out_indices)} out of range for num_stages={num_stages}"
        )
    if not -1 <= frozen_stages <= num_stages:
        raise ValueError(f"frozen_stages must be -1 to {num_stages}, got {frozen_stages}")


@BACKBONES.register_module()
class ResNet_CIFAR(ResNet):  # the name users know from mmpretrain
    """ResNet for small images: a 3x3 stride-1 stem and no max-pool. Same arguments as ResNet,
    but ``deep_stem`` must stay False (as in mmpretrain)."""

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.deep_stem:
            raise ValueError("deep_stem is not supported by ResNet_CIFAR")
        self.conv1 = build_conv_layer(
            self.conv_cfg, in_channels, stem_channels, 3, 1, 1, bias=False
        )
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
