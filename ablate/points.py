"""Enumerating the points of a search space: factorial, one_at_a_time and random.

Pure and deterministic given a ``numpy`` generator (seeded from ``tune.seed``). Optuna's
points are proposed while the sweep runs (:mod:`ablate.sweep`), not here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ablate.space import Dim, Point, Space


def cross(dims: list[Dim], fixed: Mapping[str, Any]) -> list[Point]:
    """Every combination of the discrete dims; continuous ones take ``fixed[label]``.

    A component's conditional dims multiply only the points where it is chosen.
    """
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


def space_size(space: Space) -> int | None:
    """How many distinct points a space has; None when a dimension is continuous."""
    if continuous_dims(space):
        return None
    return len(cross(space.dims, {}))


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


def _draw_levels(dims: list[Dim], rng: np.random.Generator) -> dict[str, Any]:
    return {d.label: d.dist.sample(rng) for d in dims if d.dist is not None}


def factorial(space: Space, num_samples: int, rng: np.random.Generator) -> list[Point]:
    """Every combination of discrete choices. Continuous dims contribute ``num_samples``
    random levels, shared by every cell, so cells differ only in what the user varies."""
    cont = continuous_dims(space)
    if not cont:
        return cross(space.dims, {})
    points: list[Point] = []
    for _ in range(num_samples):
        points += cross(space.dims, _draw_levels(cont, rng))
    return dedupe(points)


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
        if d.discrete:
            values = [v for v in d.options() if v != baseline[d.label]]
        else:
            assert d.dist is not None
            values = [d.dist.sample(rng) for _ in range(num_samples)]
        for v in values:
            p = {k: val for k, val in baseline.items() if not k.startswith(d.label + ".")}
            p[d.label] = v
            if d.is_component:
                p.update(defaults(d.choice(v).dims))
            points.append(p)
    return dedupe(points)


def random_points(
    space: Space,
    num_samples: int,
    rng: np.random.Generator,
    keep: Callable[[Point], bool] = lambda p: True,
) -> list[Point]:
    """Up to ``num_samples`` distinct random points that ``keep`` accepts.

    Fewer come back only when the space (after ``keep``) has fewer distinct points; a
    repeated point would be the same cell, which seeds already repeat.
    """
    size = space_size(space)
    out: list[Point] = []
    seen: set[str] = set()
    budget = 200 * num_samples + 1000
    while len(out) < num_samples and budget > 0 and (size is None or len(seen) < size):
        budget -= 1
        p = sample_point(space, rng)
        k = point_key(p)
        if k in seen:
            continue
        seen.add(k)
        if keep(p):
            out.append(p)
    return out


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


def matches(point: Point, rule: Mapping[str, Any]) -> bool:
    """Whether a point has every value of a partial point (an ``exclude`` rule)."""
    return all(k in point and _same(point[k], v) for k, v in rule.items())


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


__all__ = [
    "continuous_dims",
    "cross",
    "dedupe",
    "factorial",
    "matches",
    "one_at_a_time",
    "point_key",
    "random_points",
    "sample_point",
    "space_size",
]
