"""From a point of a search space to a trial's full config, and the cell id of that config.

Kept apart from parsing (:mod:`.space`) because every trial, on every worker, resolves its
config with exactly this code: the same point always gives the same config and id.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ablate.search.lookup import STRUCTURAL, component_class
from ablate.search.space import Point, Space
from ablate.signature import accepts

# --- resolution --------------------------------------------------------------------------


def _index(node: Any, part: str) -> int | None:
    """``part`` as an index into ``node`` when it is a list (``losses.0``, ``evaluation.metrics.1``)."""
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return int(part)
    return None


def _set(node: Any, path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        i = _index(node, part)
        node = node[i] if i is not None else node.setdefault(part, {})
    i = _index(node, parts[-1])
    node[i if i is not None else parts[-1]] = value


def _get(node: Any, path: str) -> Any:
    for part in path.split("."):
        i = _index(node, part)
        if i is not None:
            node = node[i]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None
    return node


def swap_component(base: Any, choice: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    """A component choice applied over the base's component at ``path``.

    Same type: a deep merge. Another type: the base's arguments that the new type accepts
    are kept (``num_classes``, ``loss``), the rest dropped, so a swap never carries an
    argument the new component would reject. Nested components (a head's ``loss``) follow
    the same rule; ``_delete_: true`` replaces a mapping whole.
    """
    if not isinstance(base, Mapping) or choice.get("_delete_"):
        return {k: copy.deepcopy(v) for k, v in choice.items() if k != "_delete_"}
    if base.get("type") == choice.get("type") or "type" not in choice:
        return _overlay(base, choice, path)
    cls = component_class(path, str(choice["type"]))
    kept: dict[str, Any] = {}
    if cls is not None:
        structural = STRUCTURAL.get(path, ())
        kept = {
            k: v for k, v in base.items() if k != "type" and (accepts(cls, k) or k in structural)
        }
    return _overlay(kept, choice, path)


def _overlay(base: Mapping[str, Any], over: Mapping[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        sub = f"{path}.{k}" if path else str(k)
        if isinstance(v, Mapping) and v.get("_delete_"):
            out[k] = {kk: copy.deepcopy(vv) for kk, vv in v.items() if kk != "_delete_"}
        elif isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = swap_component(out[k], v, sub)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve(base: Mapping[str, Any], space: Space, point: Point, seed: int) -> dict[str, Any]:
    """The full training config of one trial: base + the point's values + the seed."""
    cfg = copy.deepcopy(dict(base))
    for d in space.dims:
        if d.label not in point:
            continue
        if d.is_component:
            chosen = d.choice(point[d.label])
            choice = copy.deepcopy(chosen.config)
            for sub in chosen.dims:
                if sub.label in point:
                    _set(choice, sub.rel or "", point[sub.label])
            _set(cfg, d.path, swap_component(_get(cfg, d.path), choice, d.path))
        else:
            _set(cfg, d.path, copy.deepcopy(point[d.label]))
    cfg.setdefault("train", {})["seed"] = seed
    return cfg


def cell_id(config: Mapping[str, Any]) -> str:
    """A stable 10-hex-digit id of a resolved config without its seed."""
    body = copy.deepcopy(dict(config))
    if isinstance(body.get("train"), Mapping):
        body["train"].pop("seed", None)
    text = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


__all__ = ["cell_id", "resolve", "swap_component"]
