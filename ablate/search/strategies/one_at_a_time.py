"""``one_at_a_time``: the baseline, then each dimension varied alone."""

from __future__ import annotations

from ablate.config import Config
from ablate.search.points import dedupe
from ablate.search.space import Dim, Point
from ablate.search.strategies.base import STRATEGIES, Planning, Strategy, drop_excluded
from ablate.settings import TuneSettings


@STRATEGIES.register_module("one_at_a_time")
class OneAtATime(Strategy):
    """The baseline, then each dimension varied alone with the others at the baseline.

    A swapped-in component's conditional dims take their first value (continuous: one
    random draw); continuous dims vary over ``num_samples`` random values.
    """

    levels_from_num_samples = True
    varies_from_baseline = True

    def check(self, cfg: Config, tune: TuneSettings) -> None:
        if tune.baseline is None:
            raise cfg.error(
                "one_at_a_time needs a baseline: {dimension: value, ...} to vary one "
                "dimension at a time from",
                "tune.baseline",
            )

    def points(self, p: Planning) -> list[Point]:
        baseline, rng = p.baseline, p.rng
        assert baseline is not None  # check() made sure
        points = [dict(baseline)]

        def defaults(dims: list[Dim]) -> Point:
            out: Point = {}
            for d in dims:
                v = d.options()[0] if d.discrete else d.dist.sample(rng)  # type: ignore[union-attr]
                out[d.label] = v
                if d.is_component:
                    out.update(defaults(d.choice(v).dims))
            return out

        for d in list(p.space.active(baseline)):
            if d.discrete:
                values = [v for v in d.options() if v != baseline[d.label]]
            else:
                assert d.dist is not None
                values = [d.dist.sample(rng) for _ in range(p.tune.num_samples)]
            for v in values:
                point = {k: x for k, x in baseline.items() if not k.startswith(d.label + ".")}
                point[d.label] = v
                if d.is_component:
                    point.update(defaults(d.choice(v).dims))
                points.append(point)
        return drop_excluded(p.cfg, dedupe(points), p.rules)
