"""``factorial``: every combination of the discrete choices."""

from __future__ import annotations

from ablate.search.points import continuous_dims, cross, dedupe
from ablate.search.space import Point
from ablate.search.strategies.base import STRATEGIES, Planning, Strategy, drop_excluded


@STRATEGIES.register_module("factorial")
class Factorial(Strategy):
    """Every combination of discrete choices. Continuous dims contribute ``num_samples``
    random levels, shared by every cell, so cells differ only in what the user varies."""

    levels_from_num_samples = True

    def points(self, p: Planning) -> list[Point]:
        cont = continuous_dims(p.space)
        if not cont:
            points = cross(p.space.dims, {})
        else:
            points = []
            for _ in range(p.tune.num_samples):
                levels = {d.label: d.dist.sample(p.rng) for d in cont if d.dist is not None}
                points += cross(p.space.dims, levels)
            points = dedupe(points)
        return drop_excluded(p.cfg, points, p.rules)
