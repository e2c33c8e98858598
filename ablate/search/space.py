"""Search spaces: the ``search:`` block of a sweep file, as pure data.

A dimension is a dotted config path. Its value is either a list of component choices
(each a config dict with ``type``, which may carry its own, conditional, dimensions) or a
distribution from a small validated vocabulary::

    {choice: [a, b]}  {grid: [a, b]}           discrete: crossed by factorial
    {uniform: [lo, hi]}  {loguniform: [lo, hi]}  {randint: [lo, hi)}  {quniform: [lo, hi, q]}

A plain list of scalars is shorthand for ``grid``; ``{choice: [{type: ...}, ...]}`` is the same
as a list of component choices. ``seeds: [0, 1, 2]`` repeats every cell.

A *point* maps each active dimension's readable label (``neck``, ``neck.p``,
``optimizer.lr``) to a value; a component dimension's value is its choice's label (its
``type``, or ``name:`` where two choices share a type). A *cell* is a resolved config without
its seed; :func:`cell_id` hashes it, so the same cell keeps its id across sweeps.
The distributions live in :mod:`.distributions`, enumerating points in :mod:`.points` and the
strategies, resolving a point into a config and its cell id in :mod:`.resolve`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ablate.config import Config
from ablate.errors import AblateError, AblateErrors, did_you_mean
from ablate.search.distributions import DISCRETE, DISTRIBUTIONS, Distribution
from ablate.search.lookup import STRUCTURAL, component_class
from ablate.settings import SECTION_FIELDS
from ablate.signature import params_of

SWEEP_KEYS = ("name", "description", "search", "tune", "scaling")

Point = dict[str, Any]


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

    def describe(self) -> str:
        if self.choices is not None:
            return f"one of {self.options()}"
        assert self.dist is not None
        return self.dist.describe()


SPENDING = ("obrien_fleming", "pocock")


@dataclass(frozen=True)
class AdaptiveSeeds:
    """``search.seeds: {adaptive: {min, max, step, spending, futility}}``: every cell runs
    ``min`` seeds; each round adds ``step`` more to the cells whose verdict is still open, up
    to ``max``. ``spending`` is the alpha-spending function of the repeated looks;
    ``futility`` stops adding seeds to a cell whose chance of any verdict by ``max`` is
    below it (0: never)."""

    min: int = 3
    max: int = 10
    step: int = 1
    spending: str = "obrien_fleming"
    futility: float = 0.1

    def rounds(self) -> tuple[int, ...]:
        """Seeds per cell after each round: min, min + step, ..., max."""
        return tuple(dict.fromkeys([*range(self.min, self.max, self.step), self.max]))


@dataclass
class Space:
    """A parsed search space: top-level dims (conditional ones hang off choices) and seeds."""

    dims: list[Dim]
    seeds: list[int]
    adaptive: AdaptiveSeeds | None = None  # seeds: {adaptive: ...}; ``seeds`` is 0..max-1

    @property
    def first_seeds(self) -> list[int]:
        """The seeds every cell runs: all of them, or an adaptive sweep's first round."""
        return self.seeds[: self.adaptive.min] if self.adaptive else self.seeds

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
        return list(dict.fromkeys(d.label for d in self.all_dims()))

    @property
    def names(self) -> list[str]:
        """Every label and path a user may write for a dimension."""
        return list(dict.fromkeys([*self.labels, *(d.path for d in self.all_dims())]))

    def active(self, point: Point) -> Iterator[Dim]:
        """The dimensions a point sets: top-level ones and those of its chosen components."""
        stack = list(reversed(self.dims))
        while stack:
            d = stack.pop()
            yield d
            if d.choices is not None and d.label in point and d.contains(point[d.label]):
                stack.extend(reversed(d.choice(point[d.label]).dims))


def _is_distribution(v: Any) -> bool:
    return isinstance(v, Mapping) and len(v) == 1 and next(iter(v)) in DISTRIBUTIONS


def _is_components(v: Any) -> bool:
    return (
        isinstance(v, list) and bool(v) and all(isinstance(c, Mapping) and "type" in c for c in v)
    )


def readable(path: str) -> str:
    """``model.neck`` -> ``neck``; other sections keep their prefix (``optimizer.lr``)."""
    return path[len("model.") :] if path.startswith("model.") else path


# --- parsing -----------------------------------------------------------------------------


def parse_space(cfg: Config) -> Space:
    """Parse and validate ``search:`` against the base config.

    Raises:
        AblateError: an empty space, an unknown or nested dimension path, a bad
            distribution, bad seeds, or a malformed component choice; each naming the
            file and the ``search.`` path.
    """
    raw = cfg.data.get("search")
    if raw is None or (isinstance(raw, Mapping) and not [k for k in raw if k != "seeds"]):
        raise cfg.error(
            "the search space is empty; add at least one dimension, e.g. model.neck: [{type: ...}, ...]",
            "search",
        )
    if not isinstance(raw, Mapping):
        raise cfg.error(f"expected a mapping of config paths to choices, got {raw!r}", "search")
    seeds, adaptive = _parse_seeds(cfg, raw.get("seeds", [cfg.get("train.seed", 0)]))
    base = base_config(cfg)
    dims: list[Dim] = []
    problems: list[AblateError] = []
    for path, value in raw.items():
        if path == "seeds":
            continue
        try:
            dims.append(_parse_one(cfg, base, dims, path, value))
        except AblateError as err:
            problems.append(err)  # every bad dimension at once, not the first
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise AblateErrors(
            f"{len(problems)} search dimensions are invalid",
            [str(p) for p in problems],
            file=cfg.file,
            key="search",
        )
    return Space(dims, seeds, adaptive)


def _parse_one(cfg: Config, base: Mapping[str, Any], dims: list[Dim], path: Any, value: Any) -> Dim:
    """One ``search:`` entry, checked against the base config and the dimensions before it."""
    if not isinstance(path, str):
        raise cfg.error(f"a dimension is a dotted config path, got {path!r}", "search")
    if path == "train.seed":
        raise cfg.error("vary seeds with search.seeds: [...], not as a dimension", f"search.{path}")
    outer = next((d for d in dims if path.startswith(d.path + ".")), None)
    inner = next((d for d in dims if d.path.startswith(path + ".")), None)
    if outer is not None or inner is not None:
        a, b = (outer.path, path) if outer is not None else (path, inner.path)  # type: ignore[union-attr]
        raise cfg.error(
            f"dimension '{b}' lies inside dimension '{a}', which sets it whole; vary it "
            f"inside {a}'s choices instead, e.g. {{type: ..., {b[len(a) + 1 :]}: {{choice: [...]}}}}",
            f"search.{path}",
        )
    _check_path(cfg, base, path)
    return _parse_dim(cfg, path, readable(path), value, f"search.{path}")


def _parse_seeds(cfg: Config, seeds: Any) -> tuple[list[int], AdaptiveSeeds | None]:
    if isinstance(seeds, Mapping):
        adaptive = _parse_adaptive(cfg, seeds)
        return list(range(adaptive.max)), adaptive
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        raise cfg.error(
            f"expected a list of integer seeds, got {seeds}",
            "search.seeds",
            hint=f"write seeds: [{seeds}] for one seed, or seeds: {list(range(max(seeds, 1)))} for {max(seeds, 1)}",
        )
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise cfg.error(
            f"expected a non-empty list of integer seeds, got {seeds!r}", "search.seeds"
        )
    if len(set(seeds)) != len(seeds):
        raise cfg.error(
            f"duplicate seeds in {seeds}; each seed repeats every cell once", "search.seeds"
        )
    return list(seeds), None


def _parse_adaptive(cfg: Config, raw: Mapping[str, Any]) -> AdaptiveSeeds:
    key = "search.seeds"
    if list(raw) != ["adaptive"] or not isinstance(raw["adaptive"], Mapping):
        raise cfg.error(
            f"expected a list of seeds or {{adaptive: {{min: 3, max: 10}}}}, got {dict(raw)!r}",
            key,
        )
    opts = raw["adaptive"]
    fields = ("min", "max", "step", "spending", "futility")
    for name, value in opts.items():
        where = f"{key}.adaptive.{name}"
        if name not in fields:
            raise cfg.error(
                f"unknown option '{name}'{did_you_mean(str(name), fields)}; expected "
                f"{', '.join(fields)}",
                where,
            )
        if name == "spending":
            if value not in SPENDING:
                raise cfg.error(
                    f"expected one of {', '.join(SPENDING)}, got {value!r}"
                    f"{did_you_mean(str(value), SPENDING)}",
                    where,
                )
        elif name == "futility":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise cfg.error(
                    f"expected a probability in [0, 1) (0: no futility stop), got {value!r}", where
                )
        elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise cfg.error(f"expected a whole number >= 1, got {value!r}", where)
    a = AdaptiveSeeds(**opts)
    if a.min < 2:
        raise cfg.error(
            f"expected at least 2 seeds to start with (a verdict needs a seed spread), got {a.min}",
            f"{key}.adaptive.min",
        )
    if a.max < a.min:
        raise cfg.error(f"max {a.max} is below min {a.min}", f"{key}.adaptive.max")
    return a


def _parse_dim(
    cfg: Config, path: str, label: str, value: Any, key: str, rel: str | None = None
) -> Dim:
    if _is_distribution(value):
        ((kind, args),) = value.items()
        if kind in DISCRETE and _is_components(args) and rel is None:
            return Dim(path, label, choices=_parse_choices(cfg, path, label, args, f"{key}.{kind}"))
        return Dim(path, label, dist=Distribution.parse(value, key, cfg), rel=rel)
    if _is_components(value) and rel is None:
        return Dim(path, label, choices=_parse_choices(cfg, path, label, value, key))
    if isinstance(value, list) and value and not any(isinstance(v, Mapping) for v in value):
        return Dim(path, label, dist=Distribution.parse({"grid": value}, key, cfg), rel=rel)
    if isinstance(value, Mapping) and len(value) == 1:
        kind = next(iter(value))
        raise cfg.error(
            f"unknown distribution '{kind}'{did_you_mean(str(kind), DISTRIBUTIONS)}; "
            f"expected one of {', '.join(DISTRIBUTIONS)}",
            f"{key}.{kind}",
        )
    raise cfg.error(
        "expected a list of component choices [{type: ...}, ...], a list of values, "
        f"or a distribution ({', '.join(DISTRIBUTIONS)}); got {value!r}",
        key,
    )


def _parse_choices(cfg: Config, path: str, label: str, items: list[Any], key: str) -> list[Choice]:
    items = [dict(item) for item in items]
    names = _choice_names(items)
    named: list[tuple[str, dict[str, Any]]] = []
    for i, (item, name) in enumerate(zip(items, names)):
        item.pop("name", None)
        if not isinstance(name, str) or not name:
            raise cfg.error(f"a choice's type/name must be a string, got {name!r}", f"{key}.{i}")
        twin = next((n for n, c in named if _dumps(c) == _dumps(item)), None)
        if twin is not None:
            raise cfg.error(
                f"choice '{name}' is the same component as choice '{twin}'; an ablation of "
                "two identical choices measures only noise",
                f"{key}.{i}",
            )
        same = next((j for j, (n, _) in enumerate(named) if n == name), None)
        if same is not None:
            raise cfg.error(
                f"choices {same} and {i} are both called '{name}'; give them distinct name: labels",
                f"{key}.{i}",
            )
        named.append((name, item))
    # Two choices may vary the same argument: one label when they vary it alike, else
    # one per choice (``neck.GeM.p``), since a label is one Optuna parameter.
    found = {n: dict(_find_distributions(c)) for n, c in named}
    clash = {
        rel
        for n, rels in found.items()
        for rel, dist in rels.items()
        if any(rel in o and _dumps(o[rel]) != _dumps(dist) for m, o in found.items() if m != n)
    }
    choices = []
    for i, (name, item) in enumerate(named):
        nested = [
            _parse_dim(
                cfg,
                f"{path}.{rel}",
                f"{label}.{name}.{rel}" if rel in clash else f"{label}.{rel}",
                sub,
                f"{key}.{i}.{rel}",
                rel=rel,
            )
            for rel, sub in found[name].items()
        ]
        choices.append(Choice(name, item, nested))
    return choices


def _choice_names(items: list[dict[str, Any]]) -> list[Any]:
    """Each choice's label: its ``name:``, else its type; choices of one type without a
    name are told apart by the arguments they differ in: ``BarsMNIST1D(shuffle_seq=true)``."""
    names = []
    for i, item in enumerate(items):
        if item.get("name") is not None or not isinstance(item.get("type"), str):
            names.append(item.get("name") or item.get("type"))
            continue
        same = [
            o
            for j, o in enumerate(items)
            if j != i and o.get("name") is None and o.get("type") == item["type"]
        ]
        if not same:
            names.append(item["type"])
            continue
        keys = sorted(set().union(item, *same) - {"type", "name"})
        differ = [k for k in keys if any(_dumps(o.get(k)) != _dumps(item.get(k)) for o in same)]
        args = ", ".join(f"{k}={_arg(item[k])}" for k in differ if k in item)
        names.append(f"{item['type']}({args})" if differ else item["type"])
    return names


def _arg(value: Any) -> str:
    """An argument as a label shows it: strings bare, the rest as YAML/JSON writes them."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


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
    items = (
        node.items()
        if isinstance(node, Mapping)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for k, v in items:
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
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]  # a list's entry: losses.0, evaluation.metrics.1
            continue
        parent = ".".join(parts[:i])
        last = i == len(parts) - 1
        accepted = _accepted(parent, node) if isinstance(node, Mapping) and last else []
        if accepted is None or part in accepted:
            return
        candidates = list(_flat_paths(base)) + [f"{parent}.{a}" for a in accepted]
        owner = ""
        if isinstance(node, Mapping) and isinstance(node.get("type"), str):
            owner = f" and {node['type']} takes no argument '{part}'"
        raise cfg.error(
            f"unknown dimension '{path}': the base config has no such key{owner}"
            f"{did_you_mean(path, candidates)}",
            f"search.{path}",
        )


def _accepted(parent: str, node: Mapping[str, Any]) -> list[str] | None:
    """The argument names a section or component accepts; None when anything goes."""
    if parent in SECTION_FIELDS:
        return [f.name for f in dataclasses.fields(SECTION_FIELDS[parent])]
    type_name = node.get("type")
    if not isinstance(type_name, str):
        return None if parent == "model" else []
    cls = component_class(parent, type_name)
    if cls is None:
        return None  # an unknown type: its build reports it, with a close match
    params, var_kw = params_of(cls)
    if var_kw:
        return None
    skip = ("self", "params", "optimizer")
    return [p for p in params if p not in skip] + list(STRUCTURAL.get(parent, ()))


# --- points ------------------------------------------------------------------------------


def parse_value(space: Space, name: Any, value: Any, key: str, cfg: Config) -> tuple[Dim, Any]:
    """One user-written ``dimension: value`` (by label or path), checked against the space.

    A component may be given as its label or as ``{type: ..., name: ...}``.
    """
    name = str(name)
    dims = [d for d in space.all_dims() if name in (d.label, d.path)]
    if not dims:
        raise cfg.error(
            f"'{name}' is not a dimension of the search space{did_you_mean(name, space.names)}; "
            f"dimensions: {', '.join(space.labels)}",
            f"{key}.{name}",
        )
    if isinstance(value, Mapping) and "type" in value and dims[0].is_component:
        value = value.get("name", value["type"])
    found = next((d for d in dims if d.contains(value)), None)
    if found is None:
        d = dims[0]
        close = (
            did_you_mean(value, [str(o) for o in d.options()])
            if isinstance(value, str) and d.discrete
            else ""
        )
        raise cfg.error(
            f"{value!r} is not in the space of {d.label}{close}; expected {d.describe()}",
            f"{key}.{name}",
        )
    return found, value


def parse_point(space: Space, raw: Any, key: str, cfg: Config) -> Point:
    """Validate a user-written point (a ``baseline``): labels or paths -> values in the space.

    Every top-level dimension needs a value; conditional dims of the chosen components that
    the user left out take their first value.
    """
    if not isinstance(raw, Mapping) or not raw:
        raise cfg.error(f"expected a mapping of dimension -> value, got {raw!r}", key)
    given: Point = {}
    for name, value in raw.items():
        d, value = parse_value(space, name, value, key, cfg)
        if d.label in given:
            raise cfg.error(f"{d.label} is given twice (by label and by path)", f"{key}.{name}")
        given[d.label] = value
    point: Point = {}
    missing = []
    for d in space.active(given):
        if d.label in given:
            point[d.label] = given[d.label]
        elif d.rel is None:
            missing.append(d)
        elif d.discrete:
            point[d.label] = given[d.label] = d.options()[0]
        else:
            raise cfg.error(
                f"needs a value for continuous dimension {d.label}, {d.describe()}", key
            )
    if missing:
        raise cfg.error(
            f"leaves out {', '.join(d.label for d in missing)}; give every dimension a value, "
            f"e.g. {missing[0].label}: {missing[0].options()[0] if missing[0].discrete else '...'}",
            key,
        )
    extra = [k for k in given if k not in point]
    if extra:
        raise cfg.error(f"{extra} do not apply to the component choices it names", key)
    return point


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def describe_point(point: Point) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in point.items())


def short_point(point: Point) -> str:
    """A point as the console names it: ``neck=GeM head=Linear``."""
    return " ".join(f"{k}={format_value(v)}" for k, v in point.items())


__all__ = [
    "SWEEP_KEYS",
    "Choice",
    "Dim",
    "Point",
    "Space",
    "base_config",
    "describe_point",
    "format_value",
    "parse_point",
    "parse_space",
    "parse_value",
    "readable",
    "short_point",
]
