"""``optuna``: TPE proposes points while the sweep runs, through Ray Tune's ``OptunaSearch``.

Define-by-run, so conditional dimensions work: a component's own dimensions are asked only
when it is chosen. Every trial runs at the first seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ablate.config import Config
from ablate.search.points import continuous_dims, cross, dedupe
from ablate.search.space import Dim, Point, Space
from ablate.search.strategies.base import STRATEGIES, Planning, Strategy
from ablate.settings import TuneSettings


class DefineByRun:
    """Optuna's define-by-run space: a component's own dims are asked only when chosen.

    A class, not a closure: Tune pickles the searcher (and so this) into its checkpoints.
    """

    def __init__(self, space: Space, seed: int) -> None:
        self.space = space
        self.seed = seed

    def __call__(self, trial: Any) -> dict[str, Any]:
        self._visit(trial, self.space.dims)
        return {"seed": self.seed}

    def _visit(self, trial: Any, dims: list[Dim]) -> None:
        for d in dims:
            if d.is_component:
                label = trial.suggest_categorical(d.label, d.options())
                self._visit(trial, d.choice(label).dims)
            elif d.dist is not None:
                d.dist.suggest(trial, d.label)


@STRATEGIES.register_module("optuna")
class Optuna(Strategy):
    """TPE (multivariate, grouped) seeded by ``tune.seed``; ``tune.num_samples`` trials."""

    proposes = True
    levels_from_num_samples = False

    def check(self, cfg: Config, tune: TuneSettings) -> None:
        if tune.exclude:
            raise cfg.error(
                "optuna proposes points as it goes and cannot skip excluded ones; "
                "drop tune.exclude or narrow the search space",
                "tune.exclude",
            )

    def points(self, p: Planning) -> list[Point]:
        return []  # proposed while the sweep runs

    def build_points(self, space: Space, tune: TuneSettings, planned: list[Point]) -> list[Point]:
        """Optuna may propose any point: every discrete combination, continuous dims at one
        draw."""
        rng = np.random.default_rng(tune.seed)
        fixed = {d.label: d.dist.sample(rng) for d in continuous_dims(space) if d.dist}
        return dedupe(cross(space.dims, fixed))

    def searcher(self, space: Space, tune: TuneSettings) -> Any:
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        sampler = optuna.samplers.TPESampler(seed=tune.seed, multivariate=True, group=True)
        return OptunaSearch(
            space=DefineByRun(space, space.seeds[0]),
            metric=tune.metric,
            mode=tune.mode,
            sampler=sampler,
        )

    def num_trials(self, tune: TuneSettings, planned: int) -> int:
        return tune.num_samples

    def describe_trials(self, tune: TuneSettings, cells: int, seeds: list[int]) -> str:
        return f"{tune.num_samples} proposed by Optuna TPE, at seed {seeds[0]}"
