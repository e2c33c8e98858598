"""Pooling necks: map a backbone's tuple of (N, C, H, W) maps to a tuple of (N, C) vectors."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate import NECKS


def _per_stage(feats: Any, fn: Any) -> Any:
    if isinstance(feats, tuple | list):
        return tuple(fn(f) for f in feats)
    return fn(feats)


@NECKS.register_module()
class GlobalAveragePooling(nn.Module):
    """Average over all spatial positions: (N, C, *spatial) -> (N, C). (N, C) passes through.

    Args:
        dim: Spatial dimensions the inputs must have (mmpretrain's argument): 1, 2 or 3;
            None pools whatever spatial dimensions come.
    """

    def __init__(self, dim: Literal[1, 2, 3] | None = None) -> None:
        super().__init__()
        self.dim = dim

    def _pool(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            return x
        if self.dim is not None and x.dim() != self.dim + 2:
            raise ValueError(
                f"GlobalAveragePooling(dim={self.dim}) expects (N, C) plus {self.dim} spatial "
                f"dimensions, got {tuple(x.shape)}"
            )
        return x.flatten(2).mean(dim=2)

    def forward(self, feats: Any) -> Any:
        return _per_stage(feats, self._pool)


@NECKS.register_module()
class GeneralizedMeanPooling(nn.Module):
    """GeM pooling, ``(mean(x**p))**(1/p)`` over space (Radenovic et al., 2018).

    Args:
        p: The power; 1 is average pooling, large p approaches max pooling.
        eps: Clamp before the power, keeps gradients finite.
        learnable: Learn ``p`` as a parameter.

    Shapes:
        (N, C, H, W) -> (N, C), per stage.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learnable: bool = False) -> None:
        super().__init__()
        if p < 1:
            raise ValueError(f"p must be at least 1, got {p}")
        self.p = nn.Parameter(torch.tensor(float(p)), requires_grad=learnable)
        self.eps = eps

    def _pool(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            return x
        pooled = F.avg_pool2d(x.clamp(min=self.eps).pow(self.p), x.shape[-2:])
        return pooled.pow(1.0 / self.p).flatten(1)

    def forward(self, feats: Any) -> Any:
        return _per_stage(feats, self._pool)


@NECKS.register_module()
class Flatten(nn.Module):
    """Flatten each stage map: (N, C, H, W) -> (N, C*H*W). Keeps spatial layout, unlike pooling."""

    def forward(self, feats: Any) -> Any:
        return _per_stage(feats, lambda x: x.flatten(1))
