"""``factorial``: every combination of the discrete choices."""

from __future__ import annotations

import numpy as np

from ablate.config import Config
from ablate.search.points import continuous_dims, cross, dedupe
from ablate.search.space import Point, Space
from ablate.search.strategies.base import STRATEGIES, Strategy, drop_excluded
from ablate.settings import TuneSettings


@STRATEGIES.register_module("factorial")
class Factorial(Strategy):
    """Every combination of discrete choices. Continuous dims contribute ``num_samples``
    random levels, shared by every cell, so cells differ only in what the user varies."""

    levels_from_num_samples = True

    def points(
        self,
        cfg: Config,
        space: Space,
        tune: TuneSettings,
        baseline: Point | None,
        rules: list[Point],
        rng: np.random.Generator,
    ) -> list[Point]:
        cont = continuous_dims(space)
        if not cont:
            points = cross(space.dims, {})
        else:
            points = []
            for _ in range(tune.num_samples):
                levels = {d.label: d.dist.sample(rng) for d in cont if d.dist is not None}
                points += cross(space.dims, levels)
            points = dedupe(points)
        return drop_excluded(cfg, points, rules)
