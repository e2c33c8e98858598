"""The search-strategy extension point: how a sweep picks its points.

A strategy is a small class registered in :data:`STRATEGIES`; ``tune.strategy: <name>``
selects it. One file per strategy, plus its registration, is all a new one takes.

Lifecycle, for one sweep:

1. :meth:`Strategy.check` while the plan is made: settings this strategy needs or refuses
   (``one_at_a_time`` needs a baseline; Optuna cannot honour ``exclude``).
2. :meth:`Strategy.points`: the planned points, excluded ones dropped. Every point runs once
   per seed. A *proposing* strategy (``proposes = True``) plans none and proposes points
   while the sweep runs, through the Ray Tune searcher of step 4.
3. :meth:`Strategy.build_points`: the points whose models ``ablate plan`` dry-builds.
4. :meth:`Strategy.searcher`, in the Tune driver only: a Ray Tune ``Searcher``, or None to
   hand Tune the planned trial list. Ray and Optuna are imported here, never at import time.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np

from ablate.config import Config
from ablate.registry import Registry
from ablate.search.points import continuous_dims, matches
from ablate.search.space import Point, Space, describe_point
from ablate.settings import TuneSettings

#: Search strategies by name, in the order ``ablate`` lists them.
STRATEGIES = Registry("strategy", ordered=True)


class Strategy(abc.ABC):
    """Base of every search strategy. Stateless: one instance serves a whole sweep.

    Attributes:
        proposes: Points come while the sweep runs (no planned list): trial names carry
            Tune's trial id, ``exclude`` cannot apply, ``tune.num_samples`` trials run.
        levels_from_num_samples: ``num_samples`` draws levels of continuous dimensions
            (shared by every cell), so it needs some.
    """

    proposes: ClassVar[bool] = False
    levels_from_num_samples: ClassVar[bool] = False

    def check(self, cfg: Config, tune: TuneSettings, space: Space) -> None:
        """Raise a ``cfg.error`` for settings this strategy cannot run with."""
        if self.levels_from_num_samples and tune.num_samples > 1 and not continuous_dims(space):
            raise cfg.error(
                f"{tune.strategy} runs every cell once; num_samples draws levels of continuous "
                "dimensions and this space has none; repeat cells with search.seeds instead",
                "tune.num_samples",
            )

    @abc.abstractmethod
    def points(
        self,
        cfg: Config,
        space: Space,
        tune: TuneSettings,
        baseline: Point | None,
        rules: list[Point],
        rng: np.random.Generator,
    ) -> list[Point]:
        """The planned points, without those an ``exclude`` rule matches."""

    def build_points(self, space: Space, tune: TuneSettings, planned: list[Point]) -> list[Point]:
        """The points whose models ``ablate plan`` builds on a sample batch."""
        return planned

    def searcher(self, space: Space, tune: TuneSettings) -> Any:
        """A Ray Tune searcher that proposes points, or None to run the planned trials."""
        return None

    def num_trials(self, tune: TuneSettings, planned: int) -> int:
        """How many trials the sweep runs."""
        return planned

    def describe_trials(self, tune: TuneSettings, cells: int, seeds: list[int]) -> str:
        """The ``trials:`` line of ``ablate plan``."""
        return f"{cells} cells x {len(seeds)} seeds {seeds} = {cells * len(seeds)}"


def drop_excluded(cfg: Config, points: list[Point], rules: list[Point]) -> list[Point]:
    """``points`` less those ``rules`` match; a rule matching no planned point is an error
    (a typo'd rule would otherwise exclude nothing), and so is excluding every point."""
    for i, rule in enumerate(rules):
        if not any(matches(p, rule) for p in points):
            raise cfg.error(
                f"{describe_point(rule)} matches none of the {len(points)} planned cells; "
                "remove the rule or fix its values",
                f"tune.exclude.{i}",
            )
    kept = [p for p in points if not excluded(p, rules)]
    if not kept:
        raise cfg.error(
            f"tune.exclude drops every cell ({len(points)} of {len(points)}): nothing would run",
            "tune.exclude",
        )
    return kept


def excluded(point: Point, rules: list[Point]) -> bool:
    return any(matches(point, r) for r in rules)


__all__ = ["STRATEGIES", "Strategy", "drop_excluded", "excluded"]
