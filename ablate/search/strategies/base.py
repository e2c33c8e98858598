"""The search-strategy extension point: how a sweep picks its points.

A strategy is a small class registered in :data:`STRATEGIES`; ``tune.strategy: <name>``
selects it. One file per strategy, plus its registration, is all a new one takes.

Lifecycle, for one sweep:

1. :meth:`Strategy.check` while the ``tune:`` block is read: settings this strategy needs
   or refuses (``one_at_a_time`` needs a baseline; Optuna cannot honour ``exclude``).
2. :meth:`Strategy.points` from a :class:`Planning`: the planned points, excluded ones
   dropped. Every point runs once per seed. A *proposing* strategy (``proposes = True``)
   plans none and proposes points while the sweep runs, through the searcher of step 4.
3. :meth:`Strategy.build_points`: the points whose models ``ablate plan`` dry-builds.
4. :meth:`Strategy.searcher`, in the Tune driver only: a Ray Tune ``Searcher``, or None to
   hand Tune the planned trial list. Ray and Optuna are imported here, never at import time.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ablate.config import Config
from ablate.registry import EXTENSIONS_GROUP, Registry
from ablate.search.points import continuous_dims, matches
from ablate.search.space import Point, Space, describe_point
from ablate.settings import TuneSettings

#: Search strategies by name, in the order ``ablate`` lists them.
STRATEGIES = Registry("strategy", ordered=True, group=EXTENSIONS_GROUP)


@dataclass(frozen=True)
class Planning:
    """What a strategy plans from.

    Attributes:
        cfg: The sweep file: ``cfg.error(message, "tune.key")`` is a one-line error, exit 2.
        space: The parsed search space.
        tune: The validated ``tune:`` block.
        baseline: The ``tune.baseline`` point, or None.
        rules: The ``tune.exclude`` rules, as partial points.
        rng: A generator seeded from ``tune.seed``.
        target: The ``tune.target`` point, or None.
    """

    cfg: Config
    space: Space
    tune: TuneSettings
    baseline: Point | None
    rules: list[Point]
    rng: np.random.Generator
    target: Point | None = None


class Strategy(abc.ABC):
    """Base of every search strategy. Stateless: one instance serves a whole sweep.

    Attributes:
        proposes: Points come while the sweep runs (no planned list): trial names carry
            Tune's trial id, ``exclude`` cannot apply, ``tune.num_samples`` trials run.
        levels_from_num_samples: ``num_samples`` draws levels of continuous dimensions
            (shared by every cell), so it needs some.
        varies_from_baseline: Cells differ from the baseline in one dimension (and those
            nested under it): the report compares a dimension only over such cells and
            shows no interactions.
        rounds: It plans round by round from the results so far (:meth:`next_round`).
    """

    proposes: ClassVar[bool] = False
    levels_from_num_samples: ClassVar[bool] = False
    varies_from_baseline: ClassVar[bool] = False
    rounds: ClassVar[bool] = False

    def check(self, cfg: Config, tune: TuneSettings) -> None:  # noqa: B027 - optional hook
        """Raise a ``cfg.error`` for settings this strategy cannot run with."""

    def plan(self, p: Planning) -> list[Point]:
        """The planned points (what the plan calls): :meth:`points`, once ``num_samples``
        is known to mean something here."""
        t = p.tune
        if self.levels_from_num_samples and t.num_samples > 1 and not continuous_dims(p.space):
            raise p.cfg.error(
                f"{t.strategy} runs every cell once; num_samples draws levels of continuous "
                "dimensions and this space has none; repeat cells with search.seeds instead",
                "tune.num_samples",
            )
        return self.points(p)

    @abc.abstractmethod
    def points(self, p: Planning) -> list[Point]:
        """The planned points, without those an ``exclude`` rule matches."""

    def build_points(self, space: Space, tune: TuneSettings, planned: list[Point]) -> list[Point]:
        """The points whose models ``ablate plan`` builds on a sample batch."""
        return planned

    def searcher(self, space: Space, tune: TuneSettings) -> Any:
        """A Ray Tune searcher that proposes points, or None to run the planned trials."""
        return None

    def next_round(self, p: Planning, results: Any) -> list[tuple[Point, int]]:
        """A round-by-round strategy's next ``(point, seed)`` trials from the results so far
        (cell -> a Series of metric values by seed); empty when it is done."""
        return []

    def first_round(self, p: Planning, points: list[Point]) -> list[tuple[Point, int]]:
        """The first round's ``(point, seed)`` trials: every planned point on its first
        seeds (a round-by-round strategy may ask for other seeds per point)."""
        return [(pt, s) for pt in points for s in p.space.first_seeds]

    def num_trials(self, tune: TuneSettings, planned: int) -> int:
        """How many trials the sweep runs."""
        return planned

    def describe_trials(self, tune: TuneSettings, cells: int, seeds: list[int]) -> str:
        """The ``trials:`` line of ``ablate plan``."""
        return f"{cells} cells x {len(seeds)} seeds {seeds} = {cells * len(seeds)}"

    def describe(self, p: Planning, cells: int) -> str:
        """The ``trials:`` line from the whole planning (default: :meth:`describe_trials`)."""
        return self.describe_trials(p.tune, cells, p.space.seeds)


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


__all__ = ["STRATEGIES", "Planning", "Strategy", "drop_excluded", "excluded"]
