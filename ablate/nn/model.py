"""The model contract (OpenGait's) and the loss aggregator.

Every model, whichever style built it, is a :class:`BaseModel` whose ``forward(batch)`` returns::

    {'training_feat': {log_prefix: {kwarg: Tensor}},   # one entry per configured loss
     'visual_summary': {name: scalar | image Tensor},   # logged as metrics / images
     'inference_feat': {'logits': (N, C)} or {'embeddings': (N, D)}}

A batch is a dict with at least ``inputs`` (N, ...) and ``labels`` (N,).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import inspect
import re
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ablate.errors import AblateError, did_you_mean
from ablate.nn.opengait import remember
from ablate.nn.weights import init_module_tree
from ablate.registry import BACKBONES, LOSSES, MODELS, current_key, join_key

Batch = dict[str, Any]
#: OpenGait's ``visual_summary`` key prefixes.
SCALAR, IMAGE = "scalar/", "image/"
ModelOutput = dict[str, dict[str, Any]]

_SAMPLE: contextvars.ContextVar[Batch | None] = contextvars.ContextVar(
    "ablate_sample", default=None
)
_CFGS: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "ablate_cfgs", default=None
)


def sample_inputs() -> Tensor | None:
    """The sample batch's inputs while a model is being built, for channel inference."""
    batch = _SAMPLE.get()
    return None if batch is None else batch["inputs"]


@contextlib.contextmanager
def building_with(sample: Batch, cfgs: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Make ``sample`` the batch :func:`sample_inputs` returns while a model is built, and
    ``cfgs`` (the whole config) what a :class:`BaseModel` finds as ``self.cfgs``."""
    token = _SAMPLE.set(sample)
    cfgs_token = _CFGS.set(cfgs)
    try:
        yield
    finally:
        _SAMPLE.reset(token)
        _CFGS.reset(cfgs_token)


class TrackedDict(dict):
    """A dict that remembers which keys were read, so unread (misspelt) keys are caught."""

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        super().__init__(
            (
                k,
                TrackedDict(v, f"{prefix}{k}.")
                if isinstance(v, Mapping) and not isinstance(v, TrackedDict)
                else v,
            )
            for k, v in data.items()
        )
        self._prefix = prefix
        self._read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self._read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return super().get(key, default)

    def __iter__(self) -> Iterator[str]:
        # Defining __iter__ takes CPython off its fast path for ``f(**cfg)``, ``dict(cfg)``
        # and ``{**cfg}``: they then go through __getitem__, so unpacking counts as reading
        # (OpenGait's ``SeparateFCs(**model_cfg['SeparateFCs'])``). Iterating alone does not.
        return super().__iter__()

    def items(self):  # type: ignore[override]
        self._read.update(self.keys())
        return super().items()

    def values(self):  # type: ignore[override]
        self._read.update(self.keys())
        return super().values()

    def unread(self) -> list[str]:
        """Dotted paths of keys nobody read, nested ones included."""
        out = [f"{self._prefix}{k}" for k in self.keys() if k not in self._read]
        for k, v in dict.items(self):
            if k in self._read and isinstance(v, TrackedDict) and "type" not in v:
                out += v.unread()
        return out


class BaseModel(nn.Module):
    """Base of every model (OpenGait's contract).

    Lifecycle: the registry calls ``__init__(**model_cfg)``, which calls
    ``build_network(model_cfg)``; every key of ``model_cfg`` must be read there, or the build
    fails naming the unread key (a typo would otherwise ablate nothing). Then ``init_weights``
    applies every submodule's ``init_cfg``. Each step calls ``forward(batch)``.

    Subclasses that take explicit constructor arguments (``ImageClassifier``) override
    ``__init__`` instead and leave ``build_network`` alone.

    OpenGait's helpers: ``self.cfgs`` is the whole config (a copy), and
    :meth:`get_backbone` builds a backbone from ``{type, ...}``. A subclass defined in a
    ``custom_imports`` module needs no decorator: it is found by its class name, as in
    OpenGait (:mod:`ablate.nn.opengait`).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        remember(MODELS, cls)

    def __init__(self, **model_cfg: Any) -> None:
        super().__init__()
        self.cfgs: dict[str, Any] = copy.deepcopy(dict(_CFGS.get() or {}))
        if type(self).build_network is BaseModel.build_network:
            if model_cfg:
                raise AblateError(
                    f"{type(self).__name__} implements no build_network and takes no config"
                )
            return
        cfg = TrackedDict(model_cfg)
        try:
            self.build_network(cfg)
        except KeyError as err:
            raise AblateError(
                f"{type(self).__name__}.build_network needs config key {err.args[0]!r}"
            ) from None
        except TypeError as err:
            # A sub-config unpacked into a class (``SeparateFCs(**model_cfg['SeparateFCs'])``)
            # with a misspelt or missing key: the user's mistake, so one line, not a traceback.
            arg = re.search(r"unexpected keyword argument '(\w+)'", str(err))
            path = _path_of(cfg, arg.group(1)) if arg else None
            if path is None:
                raise
            raise AblateError(str(err), key=join_key(current_key(), path)) from None
        unread = cfg.unread()
        if unread:
            raise AblateError(
                f"config key '{unread[0]}' was never read by {type(self).__name__}.build_network"
                f"{did_you_mean(unread[0], cfg._read) if '.' not in unread[0] else ''}; "
                f"read keys: {sorted(cfg._read)}",
                key=join_key(current_key(), unread[0]),
            )

    def build_network(self, model_cfg: dict[str, Any]) -> None:
        """Create the submodules from ``model_cfg`` (everything under ``model:`` but ``type``)."""
        raise NotImplementedError

    def get_backbone(self, backbone_cfg: Any, key: str | None = None) -> nn.Module:
        """OpenGait's helper: the backbone of ``{type, ...}`` (any registered backbone, or a
        ``MODELS`` class), or an ``nn.ModuleList`` of a list of them.

        Args:
            backbone_cfg: A part of ``model_cfg``, e.g. ``model_cfg['backbone_cfg']``.
            key: Its config path for messages; found by itself for a part of ``model_cfg``.
        """
        key = key or getattr(backbone_cfg, "_prefix", "").rstrip(".") or "backbone_cfg"
        if isinstance(backbone_cfg, Mapping):
            return BACKBONES.build(backbone_cfg, key=key)
        if isinstance(backbone_cfg, list):
            return nn.ModuleList(
                self.get_backbone(c, f"{key}.{i}") for i, c in enumerate(backbone_cfg)
            )
        raise AblateError(
            f"expected a backbone config {{type, ...}} or a list of them, got {backbone_cfg!r}",
            key=join_key(current_key(), key),
        )

    def forward(self, batch: Batch) -> ModelOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def default_losses(self) -> list[dict[str, Any]] | None:
        """Loss configs used when the config has no ``losses:`` list (a head's ``loss:``).

        Messages about them name ``self.losses_key``: one config path (``model.head.loss``),
        or ``{log_prefix: path}`` when a head holds each loss under its own argument.
        """
        return None

    def init_weights(self) -> None:
        """Apply ``init_cfg`` of every submodule, parents before children; checkpoints last.
        Then a subclass's own ``init_parameters`` (OpenGait's hook), if it has one."""
        init_module_tree(self)
        self.init_parameters()

    def init_parameters(self) -> None:
        """OpenGait's initialisation hook, called after ``init_cfg``; nothing by default
        (OpenGait's default Xavier init is not applied: use ``init_cfg``)."""


class LossAggregator(nn.Module):
    """Sums named losses: one per ``log_prefix`` of ``training_feat``.

    Args:
        losses: ``[{type, log_prefix, loss_term_weight=1.0, **kwargs}, ...]``.
        key: Config path of the list, for messages.
        indexed: Whether ``key`` names a list (``losses.0``) or one loss (a head's ``loss``).
        positional: A head's ``loss:`` slot: call a loss whose parameters are not named
            after the ``training_feat`` keys with those tensors in order, as mmpretrain's
            heads call ``loss_module(cls_score, target)``. A ``losses:`` list always calls
            by keyword (OpenGait's habit).
        named: Config paths by ``log_prefix``, for losses a component holds under their own
            names (a head's ``loss_cls`` / ``loss_bbox``); they replace ``key.<i>``.

    Unlike OpenGait's, a ``training_feat`` key with no loss, or a loss with no
    ``training_feat`` key, is an error: a silent drop is an ablation that changes nothing.
    """

    def __init__(
        self,
        losses: list[dict[str, Any]],
        key: str = "losses",
        indexed: bool = True,
        positional: bool = False,
        named: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.positional = positional
        if not isinstance(losses, list) or not losses:
            raise AblateError("expected a non-empty list of {type, log_prefix, ...}", key=key)
        self.key = key
        self.indexed = indexed
        self.item_keys: dict[str, str] = {}
        self.terms = nn.ModuleDict()
        self.weights: dict[str, float] = {}
        self._named: dict[tuple[str, tuple[str, ...]], bool] = {}
        for i, raw in enumerate(losses):
            item_key = f"{key}.{i}" if indexed else key
            if not isinstance(raw, Mapping):
                raise AblateError(f"expected a loss config dict, got {raw!r}", key=item_key)
            cfg = dict(raw)
            prefix = cfg.pop("log_prefix", None)
            if not isinstance(prefix, str) or not prefix:
                raise AblateError(
                    "each loss needs a log_prefix (the training_feat key it reads)", key=item_key
                )
            if prefix in self.terms:
                raise AblateError(f"duplicate log_prefix '{prefix}'", key=f"{item_key}.log_prefix")
            item_key = (named or {}).get(prefix, item_key)
            weight = cfg.pop("loss_term_weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise AblateError(
                    f"expected a number, got {weight!r}", key=f"{item_key}.loss_term_weight"
                )
            takes_weight = _takes(cfg.get("type"), "loss_term_weight")
            if takes_weight:
                cfg["loss_term_weight"] = weight  # an OpenGait-style loss keeps it too
            loss = LOSSES.build(cfg, key=item_key)
            if isinstance(loss, nn.Module) and not takes_weight:
                # OpenGait's aggregator reads the weight off the loss; keep it there too.
                setattr(loss, "loss_term_weight", float(weight))  # noqa: B010
            self.terms[prefix] = loss
            self.weights[prefix] = float(weight)
            self.item_keys[prefix] = item_key

    @property
    def prefixes(self) -> list[str]:
        return list(self.terms)

    def check(self, training_feat: Mapping[str, Any], model_name: str = "model") -> None:
        """Raise unless ``training_feat`` keys and the configured prefixes match exactly."""
        feats, prefixes = set(training_feat), set(self.terms)
        if feats == prefixes:
            return
        missing, extra = sorted(prefixes - feats), sorted(feats - prefixes)
        parts = []
        if extra:
            parts.append(
                f"{model_name}.forward returns training_feat {extra} with no loss configured"
            )
        if missing:
            guess = did_you_mean(missing[0], extra) if extra else ""
            parts.append(
                f"losses {missing} have no training_feat entry{guess} (it returns {sorted(feats)})"
            )
        # Point at the log_prefix a user can fix, so the file (or command line) that set it is named.
        key = f"{self.item_keys[missing[0]]}.log_prefix" if missing and self.indexed else self.key
        raise AblateError("loss prefix mismatch: " + "; ".join(parts), key=key)

    def call(self, prefix: str, feats: Mapping[str, Any]) -> Any:
        """One loss term on its ``training_feat`` entry, positionally or by keyword."""
        loss_fn = self.terms[prefix]
        if self.positional and not self._named_after(prefix, loss_fn, feats):
            return loss_fn(*feats.values())
        return loss_fn(**feats)

    def _named_after(self, prefix: str, loss_fn: nn.Module, feats: Mapping[str, Any]) -> bool:
        # Asked every step with the same keys: read the signature once per (term, keys).
        key = (prefix, tuple(feats))
        known = self._named.get(key)
        if known is None:
            known = self._named[key] = _named_after(loss_fn, feats)
        return known

    def forward(
        self, training_feat: Mapping[str, Mapping[str, Tensor]]
    ) -> tuple[Tensor, dict[str, float]]:
        """Weighted sum of every loss, and ``{'<prefix>/loss': value, '<prefix>/<info>': ...}``."""
        self.check(training_feat)
        total: Tensor | None = None
        info: dict[str, float] = {}
        for prefix in self.terms:
            out = self.call(prefix, training_feat[prefix])
            value, extra = out if isinstance(out, tuple) else (out, {})
            # A per-part loss (p,) counts as its mean, as in OpenGait's aggregator.
            value = value.mean() * self.weights[prefix]
            total = value if total is None else total + value
            info[f"{prefix}/loss"] = float(value.detach())
            for k, v in extra.items():
                if k != "loss":  # the term itself, logged above with its weight
                    info[f"{prefix}/{k}"] = logged_value(v)
        assert total is not None
        return total, info


def _path_of(cfg: TrackedDict, name: str) -> str | None:
    """The dotted path of the first key ``name`` in ``cfg``'s tree, if any."""
    for k, v in dict.items(cfg):
        if k == name:
            return f"{cfg._prefix}{k}"
        if isinstance(v, TrackedDict) and (found := _path_of(v, name)):
            return found
    return None


def _takes(type_name: Any, arg: str) -> bool:
    """Whether the loss registered as ``type_name`` names ``arg`` in its constructor."""
    if not isinstance(type_name, str) or type_name not in LOSSES:
        return False  # the build reports an unknown type
    return arg in inspect.signature(LOSSES.get(type_name)).parameters


def logged_value(v: Any) -> float:
    """One number to log: a tensor's mean (a per-part vector (p,) of OpenGait), else ``v``."""
    return float(v.detach().float().mean()) if isinstance(v, Tensor) else float(v)


def _named_after(loss_fn: nn.Module, feats: Mapping[str, Any]) -> bool:
    """Whether every ``training_feat`` key names a parameter of the loss's ``forward``."""
    try:
        params = inspect.signature(loss_fn.forward).parameters
    except (TypeError, ValueError):
        return False
    named = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return set(feats) <= named


def scalar_summaries(summary: Mapping[str, Any]) -> dict[str, float]:
    """The scalar entries of ``visual_summary``; image tensors are logged separately.

    OpenGait's ``scalar/<name>`` keys are logged as ``<name>``, a tensor as its mean.
    """
    out = {}
    for k, v in summary.items():
        name = k.removeprefix(SCALAR)
        if k.startswith(IMAGE):
            continue
        if isinstance(v, Tensor) and (v.numel() == 1 or (k.startswith(SCALAR) and v.numel())):
            out[name] = logged_value(v)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[name] = float(v)
    return out


def image_summaries(summary: Mapping[str, Any], max_images: int = 8) -> dict[str, Any]:
    """Image tensors (N, C, H, W) or (N, H, W) of ``visual_summary``, as uint8 numpy grids
    of the first ``max_images`` side by side. OpenGait's ``image/<name>`` keys are ``<name>``."""
    out = {}
    for k, v in summary.items():
        is_image = isinstance(v, Tensor) and v.dim() in (3, 4) and v.numel() > 1
        if not is_image or k.startswith(SCALAR):
            continue
        imgs = v.detach().float()[:max_images]
        if imgs.dim() == 3:
            imgs = imgs.unsqueeze(1)
        lo, hi = imgs.amin(), imgs.amax()
        imgs = (imgs - lo) / (hi - lo + 1e-8)
        grid = torch.cat(list(imgs), dim=-1)  # (C, H, N*W)
        grid = grid.permute(1, 2, 0)
        if grid.shape[-1] == 1:
            grid = grid[..., 0]
        out[k.removeprefix(IMAGE)] = (grid * 255).to(torch.uint8).cpu().numpy()
    return out
