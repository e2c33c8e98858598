"""The primitives strategies enumerate points with: crossing discrete dimensions, drawing a
random point, counting a space, and matching a point against a partial one.

Pure and deterministic given a ``numpy`` generator (seeded from ``tune.seed``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ablate.search.distributions import same
from ablate.search.space import Dim, Point, Space


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
    return all(k in point and same(point[k], v) for k, v in rule.items())


__all__ = [
    "continuous_dims",
    "cross",
    "dedupe",
    "matches",
    "point_key",
    "random_points",
    "sample_point",
    "space_size",
]
