"""``random``: ``num_samples`` distinct random points."""

from __future__ import annotations

from ablate.search.points import random_points
from ablate.search.space import Point
from ablate.search.strategies.base import STRATEGIES, Planning, Strategy, excluded


@STRATEGIES.register_module("random")
class Random(Strategy):
    """Up to ``num_samples`` distinct random points that no ``exclude`` rule matches.

    A repeated point would be the same cell, which seeds already repeat: asking for more
    distinct points than the space has is an error.
    """

    def points(self, p: Planning) -> list[Point]:
        n, rules = p.tune.num_samples, p.rules
        out = random_points(p.space, n, p.rng, lambda point: not excluded(point, rules))
        if len(out) < n:
            if not out and rules:
                raise p.cfg.error(
                    "tune.exclude drops every cell: nothing would run", "tune.exclude"
                )
            left = " after tune.exclude" if rules else ""
            raise p.cfg.error(
                f"random asks for {n} distinct points but the space has only "
                f"{len(out)}{left}; lower num_samples or use strategy: factorial",
                "tune.num_samples",
            )
        return out
