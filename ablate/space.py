"""Search spaces: the ``search:`` block of a sweep file, as pure data.

A dimension is a dotted config path. Its value is either a list of component choices
(each a config dict with ``type``, which may carry its own, conditional, dimensions) or a
distribution from a small validated vocabulary::

    {choice: [a, b]}  {grid: [a, b]}           discrete: crossed by factorial
    {uniform: [lo, hi]}  {loguniform: [lo, hi]}  {randint: [lo, hi]}  {quniform: [lo, hi, q]}

A plain list of scalars is shorthand for ``grid``. ``seeds: [0, 1, 2]`` repeats every cell.

A *point* maps each active dimension's readable label (``neck``, ``neck.p``,
``optimizer.lr``) to a value; a component dimension's value is its choice's label (its
``type``, or ``name:`` where two choices share a type). A *cell* is a resolved config without
its seed; :func:`cell_id` hashes it, so the same cell keeps its id across sweeps.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ablate.config import Config
from ablate.errors import did_you_mean

DISCRETE = ("choice", "grid")
CONTINUOUS = ("uniform", "loguniform", "randint", "quniform")
DISTRIBUTIONS = DISCRETE + CONTINUOUS
SWEEP_KEYS = ("name", "description", "search", "tune", "scaling")

Point = dict[str, Any]


@dataclass(frozen=True)
class Distribution:
    """One validated distribution; bounds are checked at construction, as Optuna's are."""

    kind: str
    args: tuple[Any, ...]

    @classmethod
    def parse(cls, raw: Mapping[str, Any], key: str, cfg: Config) -> Distribution:
        ((kind, args),) = raw.items()
        where = f"{key}.{kind}"
        if kind in DISCRETE:
            if not isinstance(args, list) or not args:
                raise cfg.error(f"expected a non-empty list of values, got {args!r}", where)
            if len({json.dumps(a, sort_keys=True, default=str) for a in args}) != len(args):
                raise cfg.error(f"duplicate values in {args!r}", where)
            return cls(kind, tuple(args))
        arity = 3 if kind == "quniform" else 2
        if not isinstance(args, list) or len(args) != arity or not all(_is_number(a) for a in args):
            shape = "[low, high, q]" if kind == "quniform" else "[low, high]"
            raise cfg.error(f"expected {shape} numbers, got {args!r}", where)
        lo, hi = args[0], args[1]
        if not lo < hi:
            raise cfg.error(f"low must be below high, got [{lo}, {hi}]", where)
        if kind == "loguniform" and lo <= 0:
            raise cfg.error(f"loguniform needs low > 0, got {lo}", where)
        if kind == "randint" and not all(isinstance(a, int) for a in args):
            raise cfg.error(f"randint takes integers [low, high), got {args!r}", where)
        if kind == "quniform" and args[2] <= 0:
            raise cfg.error(f"quniform needs q > 0, got {args[2]}", where)
        return cls(kind, tuple(args))

    @property
    def discrete(self) -> bool:
        return self.kind in DISCRETE

    def sample(self, rng: np.random.Generator) -> Any:
        if self.discrete:
            return self.args[int(rng.integers(len(self.args)))]
        lo, hi = self.args[0], self.args[1]
        if self.kind == "uniform":
            return float(rng.uniform(lo, hi))
        if self.kind == "loguniform":
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        if self.kind == "randint":
            return int(rng.integers(lo, hi))
        q = self.args[2]
        return float(round(rng.uniform(lo, hi) / q) * q)

    def contains(self, value: Any) -> bool:
        if self.discrete:
            return value in self.args
        if not _is_number(value):
            return False
        return self.args[0] <= value <= self.args[1]


@dataclass
class Choice:
    """One component choice of a component dimension."""

    label: str
    config: dict[str, Any]
    dims: list[Dim] = field(default_factory=list)


@dataclass
class Dim:
    """A search dimension.

    Attributes:
        path: Full dotted config path (``model.neck`` or ``model.neck.p``).
        label: Readable name used in params and reports (``neck``, ``neck.p``).
        dist: The distribution, for a value dimension.
        choices: The component choices, for a component dimension.
        rel: Path inside the parent choice's config, for a conditional dimension.
    """

    path: str
    label: str
    dist: Distribution | None = None
    choices: list[Choice] | None = None
    rel: str | None = None

    @property
    def is_component(self) -> bool:
        return self.choices is not None

    @property
    def discrete(self) -> bool:
        return self.is_component or (self.dist is not None and self.dist.discrete)

    def options(self) -> list[Any]:
        """Every value of a discrete dimension (choice labels for components)."""
        if self.choices is not None:
            return [c.label for c in self.choices]
        assert self.dist is not None and self.dist.discrete
        return list(self.dist.args)

    def choice(self, label: str) -> Choice:
        assert self.choices is not None
        return next(c for c in self.choices if c.label == label)

    def contains(self, value: Any) -> bool:
        if self.choices is not None:
            return any(c.label == value for c in self.choices)
        assert self.dist is not None
        return self.dist.contains(value)


@dataclass
class Space:
    """A parsed search space: top-level dims (conditional ones hang off choices) and seeds."""

    dims: list[Dim]
    seeds: list[int]

    def all_dims(self) -> Iterator[Dim]:
        """Every dimension, conditional ones included, parents first."""
        stack = list(reversed(self.dims))
        while stack:
            d = stack.pop()
            yield d
            for c in reversed(d.choices or []):
                stack.extend(reversed(c.dims))

    def find(self, name: str) -> Dim | None:
        """A dimension by label or full path."""
        return next((d for d in self.all_dims() if name in (d.label, d.path)), None)

    @property
    def labels(self) -> list[str]:
        return [d.label for d in self.all_dims()]

    def active(self, point: Point) -> Iterator[Dim]:
        """The dimensions a point sets: top-level ones and those of its chosen components."""
        stack = list(reversed(self.dims))
        while stack:
            d = stack.pop()
            yield d
            if d.choices is not None and d.label in point:
                stack.extend(reversed(d.choice(point[d.label]).dims))


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_distribution(v: Any) -> bool:
    return isinstance(v, Mapping) and len(v) == 1 and next(iter(v)) in DISTRIBUTIONS


def readable(path: str) -> str:
    """``model.neck`` -> ``neck``; other sections keep their prefix (``optimizer.lr``)."""
    return path[len("model.") :] if path.startswith("model.") else path


def parse_space(cfg: Config) -> Space:
    """Parse and validate ``search:`` against the base config.

    Raises:
        AblateError: an empty space, an unknown dimension path, a bad distribution, or a
            malformed component choice; each naming the file and the ``search.`` path.
    """
    raw = cfg.data.get("search")
    if raw is None or (isinstance(raw, Mapping) and not [k for k in raw if k != "seeds"]):
        raise cfg.error(
            "the search space is empty; add at least one dimension, e.g. model.neck: [{type: ...}, ...]",
            "search",
        )
    if not isinstance(raw, Mapping):
        raise cfg.error(f"expected a mapping of config paths to choices, got {raw!r}", "search")
    seeds = raw.get("seeds", [cfg.get("train.seed", 0)])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise cfg.error(
            f"expected a non-empty list of integer seeds, got {seeds!r}", "search.seeds"
        )
    if len(set(seeds)) != len(seeds):
        raise cfg.error(f"duplicate seeds in {seeds}", "search.seeds")
    base = base_config(cfg)
    dims = []
    for path, value in raw.items():
        if path == "seeds":
            continue
        if path == "train.seed":
            raise cfg.error(
                "vary seeds with search.seeds: [...], not as a dimension", f"search.{path}"
            )
        _check_path(cfg, base, path)
        dims.append(_parse_dim(cfg, path, readable(path), value, f"search.{path}"))
    return Space(dims, list(seeds))


def _parse_dim(
    cfg: Config, path: str, label: str, value: Any, key: str, rel: str | None = None
) -> Dim:
    if _is_distribution(value):
        return Dim(path, label, dist=Distribution.parse(value, key, cfg), rel=rel)
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, Mapping) and "type" in v for v in value)
    ):
        return Dim(path, label, choices=_parse_choices(cfg, path, label, value, key), rel=rel)
    if isinstance(value, list) and value and not any(isinstance(v, Mapping) for v in value):
        return Dim(path, label, dist=Distribution.parse({"grid": value}, key, cfg), rel=rel)
    if isinstance(value, Mapping) and len(value) == 1:
        kind = next(iter(value))
        raise cfg.error(
            f"unknown distribution '{kind}'{did_you_mean(str(kind), DISTRIBUTIONS)}; "
            f"expected one of {', '.join(DISTRIBUTIONS)}",
            key,
        )
    raise cfg.error(
        "expected a list of component choices [{type: ...}, ...], a list of values, "
        f"or a distribution ({', '.join(DISTRIBUTIONS)}); got {value!r}",
        key,
    )


def _parse_choices(cfg: Config, path: str, label: str, items: list[Any], key: str) -> list[Choice]:
    choices: list[Choice] = []
    for i, item in enumerate(items):
        item = dict(item)
        name = item.pop("name", None) or item["type"]
        if not isinstance(name, str):
            raise cfg.error(f"a choice's type/name must be a string, got {name!r}", f"{key}.{i}")
        if any(c.label == name for c in choices):
            raise cfg.error(
                f"two choices are both called '{name}'; give them distinct name: labels",
                f"{key}.{i}",
            )
        nested = []
        for rel, sub in _find_distributions(item):
            nested.append(
                _parse_dim(cfg, f"{path}.{rel}", f"{label}.{rel}", sub, f"{key}.{i}.{rel}", rel=rel)
            )
        choices.append(Choice(name, item, nested))
    return choices


def _find_distributions(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in node.items():
        if _is_distribution(v):
            yield f"{prefix}{k}", v
        elif isinstance(v, Mapping):
            yield from _find_distributions(v, f"{prefix}{k}.")


def base_config(cfg: Config) -> dict[str, Any]:
    """The training config of a sweep file: everything but the sweep blocks."""
    return {k: copy.deepcopy(v) for k, v in cfg.data.items() if k not in SWEEP_KEYS}


def _flat_paths(node: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield f"{prefix}{k}"
            yield from _flat_paths(v, f"{prefix}{k}.")


def _check_path(cfg: Config, base: Mapping[str, Any], path: str) -> None:
    """A dimension must name a key of the base config, or an argument its parent accepts."""
    parts = path.split(".")
    node: Any = base
    for i, part in enumerate(parts):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
            continue
        parent = ".".join(parts[:i])
        if (
            i == len(parts) - 1
            and isinstance(node, Mapping)
            and _parent_accepts(parent, node, part)
        ):
            return
        match = did_you_mean(path, list(_flat_paths(base)))
        raise cfg.error(
            f"unknown dimension '{path}': the base config has no such key{match}", f"search.{path}"
        )


_SECTION_FIELDS = {"train": "TrainSettings", "data": "DataSettings"}


def _parent_accepts(parent: str, node: Mapping[str, Any], name: str) -> bool:
    if parent in _SECTION_FIELDS:
        from ablate import build

        return name in getattr(build, _SECTION_FIELDS[parent]).__dataclass_fields__
    if parent == "optimizer":
        return True  # checked against the optimizer's signature when each cell is built
    type_name = node.get("type")
    if isinstance(type_name, str):
        cls = lookup_component(type_name)
        if cls is not None:
            from ablate.signature import accepts

            return accepts(cls, name)
    return parent == "model"


def lookup_component(type_name: str) -> Any:
    """The class registered as ``type_name`` in any registry, or None."""
    from ablate.registry import REGISTRIES

    for registry in REGISTRIES.values():
        if type_name in registry:
            return registry.get(type_name)
    return None


# --- enumeration -------------------------------------------------------------------------


def cross(dims: list[Dim], fixed: Mapping[str, Any]) -> list[Point]:
    """Every combination of the discrete dims; continuous ones take ``fixed[label]``."""
    points: list[Point] = [{}]
    for d in dims:
        grown = []
        for p in points:
            if not d.discrete:
                grown.append({**p, d.label: fixed[d.label]})
                continue
            for v in d.options():
                nested = d.choice(v).dims if d.is_component else []
                grown += [{**p, d.label: v, **sub} for sub in cross(nested, fixed)]
        points = grown
    return points


def continuous_dims(space: Space) -> list[Dim]:
    return [d for d in space.all_dims() if not d.discrete]


def sample_point(space: Space, rng: np.random.Generator) -> Point:
    """One random point; a component's conditional dims only when it is chosen."""
    point: Point = {}

    def visit(dims: list[Dim]) -> None:
        for d in dims:
            if d.is_component:
                options = d.options()
                label = options[int(rng.integers(len(options)))]
                point[d.label] = label
                visit(d.choice(label).dims)
            else:
                assert d.dist is not None
                point[d.label] = d.dist.sample(rng)

    visit(space.dims)
    return point


def factorial(space: Space, num_samples: int, rng: np.random.Generator) -> list[Point]:
    """Every combination of discrete choices. Continuous dims contribute ``num_samples``
    random levels, shared by every cell, so cells differ only in what the user varies."""
    cont = continuous_dims(space)
    if not cont:
        return cross(space.dims, {})
    points: list[Point] = []
    for _ in range(num_samples):
        fixed = {d.label: d.dist.sample(rng) for d in cont}  # type: ignore[union-attr]
        points += cross(space.dims, fixed)
    return points


def one_at_a_time(
    space: Space, baseline: Point, num_samples: int, rng: np.random.Generator
) -> list[Point]:
    """The baseline, then each dimension varied alone with the others at the baseline.

    A swapped-in component's conditional dims take their first value (continuous: one
    random draw); continuous dims vary over ``num_samples`` random values.
    """
    points = [dict(baseline)]

    def defaults(dims: list[Dim]) -> Point:
        out: Point = {}
        for d in dims:
            v = d.options()[0] if d.discrete else d.dist.sample(rng)  # type: ignore[union-attr]
            out[d.label] = v
            if d.is_component:
                out.update(defaults(d.choice(v).dims))
        return out

    for d in list(space.active(baseline)):
        values = (
            [v for v in d.options() if v != baseline[d.label]]
            if d.discrete
            else [
                d.dist.sample(rng)
                for _ in range(num_samples)  # type: ignore[union-attr]
            ]
        )
        for v in values:
            p = {k: val for k, val in baseline.items() if not _under(k, d.label)}
            p[d.label] = v
            if d.is_component:
                p.update(defaults(d.choice(v).dims))
            points.append(p)
    return points


def _under(label: str, parent: str) -> bool:
    return label.startswith(parent + ".")


def random_points(space: Space, num_samples: int, rng: np.random.Generator) -> list[Point]:
    return [sample_point(space, rng) for _ in range(num_samples)]


def point_key(point: Point) -> str:
    return json.dumps(point, sort_keys=True, default=str)


def dedupe(points: list[Point]) -> list[Point]:
    seen: set[str] = set()
    out = []
    for p in points:
        k = point_key(p)
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out


def parse_point(space: Space, raw: Any, key: str, cfg: Config) -> Point:
    """Validate a user-written point (a ``baseline``): labels or paths -> values in the space.

    Conditional dims of the chosen components that the user left out take their first value.
    """
    if not isinstance(raw, Mapping) or not raw:
        raise cfg.error("expected a mapping of dimension -> value", key)
    given: Point = {}
    for name, value in raw.items():
        d = space.find(str(name))
        if d is None:
            raise cfg.error(
                f"'{name}' is not a dimension of the search space{did_you_mean(str(name), space.labels)}",
                f"{key}.{name}",
            )
        if isinstance(value, Mapping) and "type" in value and d.is_component:
            value = value.get("name", value["type"])
        if not d.contains(value):
            opts = d.options() if d.discrete else list(d.dist.args)  # type: ignore[union-attr]
            raise cfg.error(f"{value!r} is not in the space of {d.label}: {opts}", f"{key}.{name}")
        given[d.label] = value
    point: Point = {}
    for d in space.active(given):
        if d.label in given:
            point[d.label] = given[d.label]
        elif d.discrete:
            point[d.label] = d.options()[0]
            given[d.label] = point[d.label]
        else:
            raise cfg.error(f"the baseline needs a value for continuous dimension {d.label}", key)
    extra = set(given) - set(point)
    if extra:
        raise cfg.error(f"{sorted(extra)} do not apply to the baseline's component choices", key)
    return point


def matches(point: Point, rule: Mapping[str, Any]) -> bool:
    return all(point.get(k) == v for k, v in rule.items())


# --- resolution --------------------------------------------------------------------------


def _set(node: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _get(node: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def swap_component(base: Any, choice: dict[str, Any]) -> dict[str, Any]:
    """A component choice applied over the base's component at the same path.

    Same type: a deep merge. Another type: the base's arguments that the new type accepts
    are kept (``num_classes``, ``loss``), the rest dropped, so a swap never carries an
    argument the new component would reject.
    """
    from ablate.config import merge

    if not isinstance(base, Mapping):
        return copy.deepcopy(choice)
    if base.get("type") == choice.get("type"):
        return merge(dict(base), choice, {}, "search")
    cls = lookup_component(choice["type"])
    kept: dict[str, Any] = {}
    if cls is not None:
        from ablate.signature import accepts

        kept = {k: copy.deepcopy(v) for k, v in base.items() if k != "type" and accepts(cls, k)}
    return merge(kept, choice, {}, "search")


def resolve(base: Mapping[str, Any], space: Space, point: Point, seed: int) -> dict[str, Any]:
    """The full training config of one trial: base + the point's values + the seed."""
    cfg = copy.deepcopy(dict(base))
    for d in space.dims:
        if d.label not in point:
            continue
        if d.is_component:
            choice = copy.deepcopy(d.choice(point[d.label]).config)
            for sub in _active_nested(d, point):
                _set(choice, sub.rel or "", point[sub.label])
            _set(cfg, d.path, swap_component(_get(cfg, d.path), choice))
        else:
            _set(cfg, d.path, point[d.label])
    cfg.setdefault("train", {})["seed"] = seed
    return cfg


def _active_nested(d: Dim, point: Point) -> list[Dim]:
    out = []
    for sub in d.choice(point[d.label]).dims:
        if sub.label in point:
            out.append(sub)
    return out


def cell_id(config: Mapping[str, Any]) -> str:
    """A stable 10-hex-digit id of a resolved config without its seed."""
    body = copy.deepcopy(dict(config))
    body.get("train", {}).pop("seed", None)
    text = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def describe_point(point: Point) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in point.items())


__all__ = [
    "Choice",
    "Dim",
    "Distribution",
    "Point",
    "Space",
    "cell_id",
    "cross",
    "dedupe",
    "factorial",
    "matches",
    "one_at_a_time",
    "parse_point",
    "parse_space",
    "random_points",
    "resolve",
]
