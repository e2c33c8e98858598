"""Where a config keeps its model and its losses: under ablate's keys or OpenGait's.

- ``model: {type: Name, ...}`` or OpenGait's ``model_cfg: {model: Name, ...}``;
- ``losses: [{type, log_prefix, ...}, ...]`` or OpenGait's ``loss_cfg``, a list or one dict.

Errors name the key the file used (``model_cfg.model``, ``loss_cfg.margin``), so a search
dimension or an override uses the file's own spelling too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ablate.config import Config
from ablate.errors import AblateError
from ablate.nn.opengait import BATCH_FORMATS

MODEL_KEYS = ("model", "model_cfg")
LOSS_KEYS = ("losses", "loss_cfg")


@dataclass(frozen=True)
class ModelSection:
    """The model's config as ``MODELS.build`` takes it, and where the file keeps it.

    Attributes:
        key: ``model`` or ``model_cfg``.
        cfg: ``{type: Name, **arguments}``.
        type_key: The path of the class name (``model.type`` or ``model_cfg.model``).
    """

    key: str
    cfg: dict[str, Any]
    type_key: str

    def located(self, err: AblateError) -> AblateError:
        """``err`` with OpenGait's ``model_cfg.model`` for the class name's path."""
        if self.key == "model_cfg" and err.key == "model_cfg.type":
            err.key = self.type_key
        return err


def _one_of(cfg: Config, keys: tuple[str, ...]) -> str | None:
    present = [k for k in keys if cfg.data.get(k) is not None]
    if len(present) > 1:
        raise cfg.error(f"give one of {' or '.join(keys)}, not both", present[1])
    return present[0] if present else None


def model_section(cfg: Config) -> ModelSection:
    """The model of ``model:`` or of OpenGait's ``model_cfg:``."""
    key = _one_of(cfg, MODEL_KEYS)
    raw = cfg.data.get(key) if key else None
    if key is None or not isinstance(raw, Mapping):
        raise cfg.error(
            "a config needs a model: {type: ...} section (or OpenGait's model_cfg: {model: ...})",
            key or "model",
        )
    if key == "model":
        return ModelSection(key, dict(raw), "model.type")
    if "model" not in raw:
        raise cfg.error("OpenGait's model_cfg needs model: <class name>", "model_cfg.model")
    rest = {k: v for k, v in raw.items() if k != "model"}
    return ModelSection(key, {"type": raw["model"], **rest}, "model_cfg.model")


def loss_section(cfg: Config) -> tuple[str, list[Any], bool] | None:
    """``(key, loss configs, indexed)`` of ``losses:`` or ``loss_cfg:``, or None for neither.

    OpenGait's ``loss_cfg`` may be one dict; its errors then name ``loss_cfg.<arg>``.
    """
    key = _one_of(cfg, LOSS_KEYS)
    if key is None:
        return None
    raw = cfg.data[key]
    if key == "loss_cfg" and isinstance(raw, Mapping):
        return key, [raw], False
    return key, raw, True


def batch_format(cfg: Config) -> str:
    """``data.batch_format``, by default ``opengait`` for a ``model_cfg`` config."""
    data = cfg.data.get("data")
    # Read directly: a model can be built (plan checks, tests) from a config without data.
    fmt = data.get("batch_format") if isinstance(data, Mapping) else None
    if fmt is None:
        fmt = "opengait" if cfg.data.get("model_cfg") is not None else "dict"
    if fmt not in BATCH_FORMATS:
        raise cfg.error(
            f"expected one of {', '.join(BATCH_FORMATS)}, got {fmt!r}", "data.batch_format"
        )
    return fmt


def custom_modules(cfg: Config) -> list[str]:
    """The module names of ``custom_imports`` (checked when the config loaded)."""
    spec = cfg.data.get("custom_imports")
    if isinstance(spec, list):
        return [m for m in spec if isinstance(m, str)]
    if isinstance(spec, Mapping):
        imports = spec.get("imports") or []
        return [imports] if isinstance(imports, str) else [m for m in imports if isinstance(m, str)]
    return []


__all__ = [
    "LOSS_KEYS",
    "MODEL_KEYS",
    "ModelSection",
    "batch_format",
    "custom_modules",
    "loss_section",
    "model_section",
]
