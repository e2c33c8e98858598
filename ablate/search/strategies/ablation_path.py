"""``ablation_path``: from the baseline to a target, one change at a time (Fawcett & Hoos 2016,
"Analysing differences between algorithm configurations through ablation", J. Heuristics).

The target is ``tune.target``, or, without one, the best configuration: a *screening* first
round runs every discrete cell of the space (continuous dimensions at the baseline's values)
on the race's first seeds, and the best mean there is the target. The path's cells are all
among the screened ones, so the path only adds seeds to them: no trial runs twice.

Each step tries every change still left (a *flip*: one dimension set to its target value; a
component's own dimensions flip with it) on the current configuration and keeps the best.
The candidates of a step are *raced* over seeds (as in F-Race, Birattari et al. 2002): they
all run the first seeds; after each further seed, a candidate whose mean is worse than the
leader's by a paired t-test (p < 0.05) stops; the race ends when one is left or the seeds
run out, and the best mean among the survivors wins. So losing flips cost few trials.

The strategy plans round by round: :meth:`AblationPath.next_round` replays the whole path
from the results so far (it holds no state), so a killed sweep resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ablate.config import Config
from ablate.search.points import continuous_dims, cross, dedupe
from ablate.search.resolve import cell_id, resolve
from ablate.search.space import Dim, Point, Space, base_config
from ablate.search.strategies.base import STRATEGIES, Planning, Strategy
from ablate.settings import TuneSettings, guess_mode

RACE_ALPHA = 0.05  # a heuristic elimination, not a verdict: the report tests the path


@dataclass(frozen=True)
class Flip:
    """One change on the way: ``label`` set to the target's values (``values``: it and the
    dimensions nested under it)."""

    label: str
    values: tuple[tuple[str, Any], ...]

    def apply(self, point: Point) -> Point:
        out = {k: v for k, v in point.items() if not k.startswith(self.label + ".")}
        out.update(dict(self.values))
        return out


@dataclass
class Step:
    """One step of the path: the flip kept, the cell it made, and the candidates raced."""

    flip: str
    cell: str
    point: Point
    raced: dict[str, int] = field(default_factory=dict)  # candidate flip -> seeds it got


@dataclass(frozen=True)
class Target:
    """Where the path ends and why: ``how`` is ``"named"`` (``tune.target``) or ``"best"``
    (the best mean of ``screened`` cells on ``seeds``)."""

    point: Point
    cell: str
    how: str
    mean: float | None = None
    seeds: tuple[int, ...] = ()
    screened: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"how": self.how, "cell": self.cell, "point": self.point, "mean": self.mean,
                "seeds": list(self.seeds), "screened": self.screened}  # fmt: skip


@dataclass
class PathState:
    """The path as far as the results go, and the trials the next round needs."""

    steps: list[Step]
    needed: list[tuple[Point, int]]  # (point, seed)
    done: bool
    target: Target | None = None  # None until the screening is complete


def flips(space: Space, source: Point, target: Point) -> list[Flip]:
    """The changes from ``source`` to ``target``: a differing dimension flips with the
    dimensions nested under it; nested dimensions of a shared choice flip on their own."""

    def visit(dims: list[Dim]) -> list[Flip]:
        out: list[Flip] = []
        for d in dims:
            a, b = source.get(d.label), target.get(d.label)
            if a != b:
                nested = tuple((k, v) for k, v in target.items() if k.startswith(d.label + "."))
                out.append(Flip(d.label, ((d.label, b), *nested)))
            elif d.is_component and b is not None:
                out += visit(d.choice(b).dims)
        return out

    return visit(space.dims)


def _better(mode: str) -> float:
    return 1.0 if mode == "max" else -1.0


def _losers(values: dict[str, Any], mode: str) -> set[str]:
    """Candidates whose seeds (a Series seed -> metric each) lose to the leader's by a
    paired t-test."""
    from scipy import stats

    sign = _better(mode)
    leader = max(values, key=lambda c: sign * values[c].mean())
    out = set()
    for c, x in values.items():
        if c == leader or len(x) < 2:
            continue
        shared = x.index.intersection(values[leader].index)
        d = sign * (values[leader][shared] - x[shared])
        if len(d) >= 2 and d.std(ddof=1) == 0:
            lose = d.mean() > 0
        else:
            lose = stats.ttest_rel(values[leader][shared], x[shared]).pvalue < RACE_ALPHA
            lose = bool(lose and d.mean() > 0)
        if lose:
            out.add(c)
    return out


def replay(
    space: Space,
    base: Mapping[str, Any],
    source: Point,
    target: Point | None,
    schedule: tuple[int, ...],
    seeds: list[int],
    results: Mapping[str, Any],
    mode: str,
    start: int | None = None,
    screen: list[Point] | None = None,
) -> PathState:
    """The path from ``source`` to ``target`` given ``results`` (cell -> Series seed ->
    metric): the steps decided, and what the next round must run.

    Args:
        target: The end, or None for the best of ``screen`` (each cell on the first
            ``schedule[0]`` seeds; the choice reads only those seeds, so it stays the same
            when later rounds add seeds to the same cells).
        schedule: Seeds per candidate after each race round (e.g. 2, 3, 4, 5).
        start: Seeds the baseline gets (default ``schedule[0]``): it anchors every step.
    """

    def cell(p: Point) -> str:
        return cell_id(resolve(base, space, p, 0))

    def missing(p: Point, n: int) -> list[tuple[Point, int]]:
        got = results.get(cell(p))
        have = set(got.index) if got is not None else set()
        return [(p, s) for s in seeds[:n] if s not in have]

    current, steps = dict(source), [Step("baseline", cell(source), dict(source))]
    need = missing(current, start or schedule[0])
    for p in screen if target is None and screen else []:
        need += [m for m in missing(p, schedule[0]) if cell(p) != steps[0].cell]
    if need:
        return PathState(steps, need, False)
    if target is None:
        end = _best(screen or [dict(source)], cell, results, seeds[: schedule[0]], mode)
    else:
        end = Target(dict(target), cell(target), "named")
    sign = _better(mode)
    left = flips(space, current, end.point)
    while left:
        cands = {f.label: f.apply(current) for f in left}
        alive = list(cands)
        raced: dict[str, int] = {}
        for n in schedule:
            need = [m for c in alive for m in missing(cands[c], n)]
            if need:
                return PathState(steps, need, False, end)
            raced.update(dict.fromkeys(alive, n))
            values = {c: results[cell(cands[c])][list(seeds[:n])] for c in alive}
            alive = [c for c in alive if c not in _losers(values, mode)]
            if len(alive) == 1 and len(cands) > 1:
                break  # a lone change (the last step) still gets every seed
        win = max(alive, key=lambda c: sign * values[c].mean())
        current = cands[win]
        steps.append(Step(win, cell(current), dict(current), raced))
        left = flips(space, current, end.point)
    return PathState(steps, [], True, end)


def _best(
    screen: list[Point], cell: Any, results: Mapping[str, Any], seeds: list[int], mode: str
) -> Target:
    """The screened point with the best mean on ``seeds`` (the first in order on a tie)."""
    sign = _better(mode)
    means = [float(results[cell(p)][list(seeds)].mean()) for p in screen]
    i = max(range(len(screen)), key=lambda j: sign * means[j])
    return Target(dict(screen[i]), cell(screen[i]), "best", means[i], tuple(seeds), len(screen))


def max_flips(space: Space, source: Point, ends: list[Point]) -> int:
    """The most changes a path from ``source`` to any of ``ends`` can take."""
    return max((len(flips(space, source, e)) for e in ends), default=0)


@STRATEGIES.register_module("ablation_path")
class AblationPath(Strategy):
    """Baseline -> target, the greedy best flip at a time, candidates raced over seeds.

    ``tune.baseline`` is the start and ``tune.target`` the end (a point of the space); without
    a target (or ``target: best``) a screening round finds the best cell first.
    ``search.seeds`` sets the race: a list races over its seeds, two at first, then one
    more at a time; ``{adaptive: {min, max}}`` from ``min`` to ``max``.
    """

    varies_from_baseline = True
    rounds = True

    def check(self, cfg: Config, tune: TuneSettings) -> None:
        if tune.baseline is None:
            raise cfg.error(
                "ablation_path needs a baseline: {dimension: value, ...}: the path runs from "
                "tune.baseline to tune.target (or, without one, to the best cell)",
                "tune.baseline",
            )
        if tune.exclude:
            raise cfg.error(
                "ablation_path decides its cells as it goes; drop tune.exclude", "tune.exclude"
            )

    def points(self, p: Planning) -> list[Point]:
        assert p.baseline is not None
        return [dict(p.baseline)] + ([] if p.target is not None else self._screen(p))

    def first_round(self, p: Planning, points: list[Point]) -> list[tuple[Point, int]]:
        return self.next_round(p, {})

    def _screen(self, p: Planning) -> list[Point]:
        assert p.baseline is not None
        return self.build_points(p.space, p.tune, [p.baseline])

    def build_points(self, space: Space, tune: TuneSettings, planned: list[Point]) -> list[Point]:
        """Any combination may lie on the path: every discrete one (continuous dims at the
        baseline's values)."""
        fixed = {d.label: planned[0].get(d.label) for d in continuous_dims(space)}
        return dedupe(cross(space.dims, fixed))

    def schedule(self, space: Space) -> tuple[int, ...]:
        if space.adaptive is not None:
            return space.adaptive.rounds()
        n = len(space.seeds)
        return tuple(range(min(2, n), n + 1)) or (1,)

    def next_round(self, p: Planning, results: Any) -> list[tuple[Point, int]]:
        return self.state(p, results).needed

    def state(self, p: Planning, results: Mapping[str, Any]) -> PathState:
        assert p.baseline is not None
        screen = self._screen(p) if p.target is None else None
        return replay(
            p.space, base_config(p.cfg), p.baseline, p.target, self.schedule(p.space),
            p.space.seeds, results, p.tune.mode or guess_mode(p.tune.metric),
            start=len(p.space.first_seeds), screen=screen,
        )  # fmt: skip

    def num_trials(self, tune: TuneSettings, planned: int) -> int:
        return planned

    def describe(self, p: Planning, cells: int) -> str:
        """The plan's ``trials:`` line, with an upper bound on the whole path."""
        assert p.baseline is not None
        seeds, sched = p.space.seeds, self.schedule(p.space)
        n, k, start = sched[-1], sched[0], len(p.space.first_seeds)
        race = f"candidates race over up to {n} seeds {seeds[:n]}, losers stop early"
        if p.target is not None:
            m = len(flips(p.space, p.baseline, p.target))
            bound = start + m * (m + 1) // 2 * n
            return (
                f"the baseline ({start} seeds) first, then one step per change to the target "
                f"({m} changes); {race}: at most {bound} trials"
            )
        screen = self._screen(p)
        m = max_flips(p.space, p.baseline, screen)
        first = start + (len(screen) - 1) * k
        more = min(len(screen) - 1, m * (m + 1) // 2) * (n - k)
        return (
            f"screening: {len(screen)} cells x {k} seeds {seeds[:k]} (the baseline x {start}) "
            f"= {first}; the best mean is the target; then the path to it (up to {m} "
            f"changes, adding seeds to screened cells); {race}: at most {first + more} trials"
        )

    def describe_trials(self, tune: TuneSettings, cells: int, seeds: list[int]) -> str:
        return (
            f"the baseline first, then one step per change to the target; candidates race "
            f"over up to {len(seeds)} seeds {seeds}, losers stop early"
        )


__all__ = ["AblationPath", "Flip", "PathState", "Step", "Target", "flips", "max_flips", "replay"]
