"""``random``: ``num_samples`` distinct random points."""

from __future__ import annotations

import numpy as np

from ablate.config import Config
from ablate.search.points import random_points
from ablate.search.space import Point, Space
from ablate.search.strategies.base import STRATEGIES, Strategy, excluded
from ablate.settings import TuneSettings


@STRATEGIES.register_module("random")
class Random(Strategy):
    """Up to ``num_samples`` distinct random points that no ``exclude`` rule matches.

    A repeated point would be the same cell, which seeds already repeat: asking for more
    distinct points than the space has is an error.
    """

    def points(
        self,
        cfg: Config,
        space: Space,
        tune: TuneSettings,
        baseline: Point | None,
        rules: list[Point],
        rng: np.random.Generator,
    ) -> list[Point]:
        out = random_points(space, tune.num_samples, rng, lambda p: not excluded(p, rules))
        if len(out) < tune.num_samples:
            if not out and rules:
                raise cfg.error("tune.exclude drops every cell: nothing would run", "tune.exclude")
            left = " after tune.exclude" if rules else ""
            raise cfg.error(
                f"random asks for {tune.num_samples} distinct points but the space has only "
                f"{len(out)}{left}; lower num_samples or use strategy: factorial",
                "tune.num_samples",
            )
        return out
