"""mmcv-shaped layer builders, so a ported backbone's ``build_conv_layer`` and
``build_norm_layer`` calls keep working with only their import changed.

Only what ablate can honour is accepted: a config naming anything else is a ``ValueError``
(reported as a one-line error at the component's config path), never a silent substitute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

_CONVS: dict[str, type[nn.Module]] = {"Conv": nn.Conv2d, "Conv1d": nn.Conv1d, "Conv2d": nn.Conv2d}
#: norm type -> (layer class, the name prefix mmcv gives it)
_NORMS: dict[str, tuple[type[nn.Module], str]] = {
    "BN": (nn.BatchNorm2d, "bn"),
    "BN1d": (nn.BatchNorm1d, "bn"),
    "BN2d": (nn.BatchNorm2d, "bn"),
    "BN3d": (nn.BatchNorm3d, "bn"),
    "GN": (nn.GroupNorm, "gn"),
    "LN": (nn.LayerNorm, "ln"),
    "IN": (nn.InstanceNorm2d, "in"),
}


def build_conv_layer(cfg: Mapping[str, Any] | None, *args: Any, **kwargs: Any) -> nn.Module:
    """``cfg`` None (or ``{type: Conv2d}``) -> ``nn.Conv2d(*args, **kwargs)``."""
    cfg = dict(cfg or {"type": "Conv2d"})
    kind = cfg.pop("type", "Conv2d")
    if kind not in _CONVS:
        raise ValueError(f"conv_cfg type must be one of {sorted(_CONVS)}, got {kind!r}")
    return _CONVS[kind](*args, **kwargs, **cfg)


def build_norm_layer(
    cfg: Mapping[str, Any], num_features: int, postfix: int | str = ""
) -> tuple[str, nn.Module]:
    """``({type: BN, requires_grad: True, ...}, C, 1)`` -> ``('bn1', nn.BatchNorm2d(C))``.

    ``GN`` needs ``num_groups``; ``requires_grad: false`` freezes the affine parameters.
    """
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise ValueError(f"norm_cfg must be a dict with a 'type', got {cfg!r}")
    cfg = dict(cfg)
    kind = cfg.pop("type")
    if kind not in _NORMS:
        raise ValueError(f"norm_cfg type must be one of {sorted(_NORMS)}, got {kind!r}")
    requires_grad = cfg.pop("requires_grad", True)
    cls, abbr = _NORMS[kind]
    if kind == "GN":
        if "num_groups" not in cfg:
            raise ValueError("norm_cfg of type GN needs num_groups")
        layer = cls(num_channels=num_features, **cfg)
    else:
        layer = cls(num_features, **cfg)
    for p in layer.parameters():
        p.requires_grad = requires_grad
    return f"{abbr}{postfix}", layer


__all__ = ["build_conv_layer", "build_norm_layer"]
