"""Weight initialisation from ``init_cfg`` (mmengine's habit, without its registry of initialisers).

A component that takes ``init_cfg`` stores it as ``self.init_cfg``. After the whole model is
built, :func:`init_module_tree` applies each one:

- ``{type: Kaiming | Xavier | Normal | TruncNormal | Constant, layer: [Conv2d, Linear], ...}``
- ``{type: Pretrained, checkpoint: path/to/file.pth, prefix: backbone., strict: false}``:
  a local checkpoint (a state dict, or a dict holding ``state_dict``/``model``); ``prefix``
  selects and strips a prefix of its keys.

Pretrained checkpoints load after every random initialiser, so nothing overwrites them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ablate.errors import AblateError

_RANDOM = ("Kaiming", "Xavier", "Normal", "TruncNormal", "Constant")
INIT_TYPES = (*_RANDOM, "Pretrained")


class BaseModule(nn.Module):
    """An ``nn.Module`` with an optional ``init_cfg`` (a dict or a list of dicts)."""

    def __init__(self, init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.init_cfg = init_cfg
        validate_init_cfg(init_cfg)


def validate_init_cfg(init_cfg: Any) -> None:
    for item in _as_list(init_cfg):
        if not isinstance(item, Mapping) or item.get("type") not in INIT_TYPES:
            got = item.get("type") if isinstance(item, Mapping) else item
            raise ValueError(f"init_cfg type must be one of {INIT_TYPES}, got {got!r}")
        if item["type"] == "Pretrained" and not isinstance(item.get("checkpoint"), str):
            raise ValueError("init_cfg Pretrained needs checkpoint: a local file path")


def _as_list(cfg: Any) -> list[Any]:
    if cfg is None:
        return []
    return list(cfg) if isinstance(cfg, list | tuple) else [cfg]


def _layers(module: nn.Module, names: Any) -> list[nn.Module]:
    wanted = set(_as_list(names)) or {"Conv1d", "Conv2d", "Linear"}
    return [m for m in module.modules() if type(m).__name__ in wanted]


def _apply_random(module: nn.Module, cfg: Mapping[str, Any]) -> None:
    kind = cfg["type"]
    bias = float(cfg.get("bias", 0.0))
    for m in _layers(module, cfg.get("layer")):
        w = getattr(m, "weight", None)
        if w is None:
            continue
        if kind == "Kaiming":
            nn.init.kaiming_normal_(
                w, mode=cfg.get("mode", "fan_out"), nonlinearity=cfg.get("nonlinearity", "relu")
            )
        elif kind == "Xavier":
            nn.init.xavier_uniform_(w, gain=float(cfg.get("gain", 1.0)))
        elif kind == "Normal":
            nn.init.normal_(w, mean=float(cfg.get("mean", 0.0)), std=float(cfg.get("std", 0.01)))
        elif kind == "TruncNormal":
            nn.init.trunc_normal_(w, std=float(cfg.get("std", 0.02)))
        elif kind == "Constant":
            nn.init.constant_(w, float(cfg.get("val", 1.0)))
        b = getattr(m, "bias", None)
        if isinstance(b, torch.Tensor):
            nn.init.constant_(b, bias)


def load_checkpoint(module: nn.Module, cfg: Mapping[str, Any]) -> None:
    """Load a local checkpoint into ``module``; errors name the file and the mismatched keys."""
    path = Path(cfg["checkpoint"]).expanduser()
    if not path.is_file():
        raise AblateError(
            f"init_cfg checkpoint not found: {path}", hint="Pretrained takes a local file"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise AblateError(f"cannot load checkpoint {path}: {err}") from None
    if isinstance(state, Mapping):
        for wrapper in ("state_dict", "model"):
            if wrapper in state and isinstance(state[wrapper], Mapping):
                state = state[wrapper]
                break
    prefix = cfg.get("prefix")
    if prefix:
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise AblateError(f"checkpoint {path} has no keys starting with prefix '{prefix}'")
    strict = bool(cfg.get("strict", False))
    try:
        result = module.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise AblateError(
            f"checkpoint {path} does not fit {type(module).__name__}: {' '.join(first[:3])}"
        ) from None
    if not strict and result.missing_keys and len(result.missing_keys) == len(module.state_dict()):
        raise AblateError(
            f"checkpoint {path} shares no parameter names with {type(module).__name__}"
        )


def init_module_tree(root: nn.Module) -> None:
    """Apply random initialisers top-down, then every ``Pretrained`` checkpoint."""
    pretrained: list[tuple[nn.Module, Mapping[str, Any]]] = []
    for module in root.modules():
        for cfg in _as_list(getattr(module, "init_cfg", None)):
            if cfg["type"] == "Pretrained":
                pretrained.append((module, cfg))
            else:
                _apply_random(module, cfg)
    for module, cfg in pretrained:
        load_checkpoint(module, cfg)
