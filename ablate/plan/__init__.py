"""A sweep's plan: the validated ``tune:`` and ``scaling:`` settings, the strategy and the
scheduler they name, the trial list, and what each trial asks of a cluster
(:mod:`.resources`). Nothing here starts Ray or builds a model: ``ablate plan`` and
``ablate run`` share it, so whatever the plan can catch never reaches a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ablate.config import Config
from ablate.errors import AblateError, did_you_mean
from ablate.layout import trial_name
from ablate.plan.resources import Resources, concurrency, local_nodes, trial_resources
from ablate.search.points import matches
from ablate.search.resolve import cell_id, resolve
from ablate.search.schedulers import SCHEDULERS, Scheduler
from ablate.search.space import (
    Point,
    Space,
    base_config,
    describe_point,
    parse_point,
    parse_space,
    parse_value,
)
from ablate.search.strategies import STRATEGIES, Planning, Strategy
from ablate.settings import (
    ScalingSettings,
    TrainSettings,
    TuneSettings,
    check_trial_timeout,
    check_tune_bounds,
    guess_mode,
    scaling_settings,
    train_settings,
    tune_settings,
)


@dataclass(frozen=True)
class TrialSpec:
    """One planned trial: a point of the space at one seed."""

    point: Point
    seed: int
    cell: str

    @property
    def name(self) -> str:
        return trial_name(self.cell, self.seed)


@dataclass
class SweepPlan:
    """Everything ``ablate run`` needs, validated."""

    name: str
    cfg: Config
    space: Space
    tune: TuneSettings
    scaling: ScalingSettings
    base: dict[str, Any]
    trials: list[TrialSpec]
    baseline: Point | None
    resources: Resources
    epochs: int
    imports: list[str] = field(default_factory=list)
    strategy: Strategy = field(default_factory=lambda: STRATEGIES.get("factorial")())
    scheduler: Scheduler = field(default_factory=lambda: SCHEDULERS.get("fifo")())
    planning: Planning | None = None  # what the strategy planned from (round by round)
    train: TrainSettings = field(default_factory=TrainSettings)
    #: ``tune.mode`` was written; else the dry build sets the metric's own mode.
    mode_given: bool = True
    #: Trials of this sweep an earlier invocation ended (skipped by an incremental run),
    #: with the epochs each reached: an early-stopping scheduler judges the rest with them.
    ended: list[tuple[TrialSpec, int]] = field(default_factory=list)

    @property
    def cells(self) -> list[str]:
        return list(dict.fromkeys(t.cell for t in self.trials))

    @property
    def points(self) -> list[Point]:
        """The planned points, one per cell, in order."""
        seen: dict[str, Point] = {}
        for t in self.trials:
            seen.setdefault(t.cell, t.point)
        return list(seen.values())

    @property
    def num_trials(self) -> int:
        """How many trials the sweep runs (a proposing strategy plans none)."""
        return self.strategy.num_trials(self.tune, len(self.trials))

    def build_points(self) -> list[Point]:
        """The points whose models ``ablate plan`` builds on a sample batch."""
        return self.strategy.build_points(self.space, self.tune, self.points)


def _named(cfg: Config, what: str, name: Any, names: list[str]) -> None:
    if name not in names:
        raise cfg.error(
            f"unknown {what} '{name}'{did_you_mean(str(name), names, loose=True)}; "
            f"expected one of {', '.join(names)}",
            f"tune.{what}",
        )


def read_tune(cfg: Config) -> tuple[TuneSettings, Strategy, Scheduler]:
    """The ``tune:`` block, with the strategy and the scheduler it names, each checked:
    names first, then bounds, then what the strategy and the scheduler say."""
    t = tune_settings(cfg)
    if t.mode is None:  # the built metrics' own mode replaces this guess (train.check)
        t = replace(t, mode=guess_mode(t.metric))
    if isinstance(t.scheduler, Mapping) and "type" not in t.scheduler:
        raise cfg.error("expected {type: <scheduler>, **options}", "tune.scheduler")
    _named(cfg, "strategy", t.strategy, STRATEGIES.names())
    _named(cfg, "scheduler", t.scheduler_name, SCHEDULERS.names())
    check_tune_bounds(cfg, t)
    strategy: Strategy = STRATEGIES.get(t.strategy)()
    strategy.check(cfg, t)
    check_trial_timeout(cfg, t)
    return t, strategy, build_scheduler(cfg, t)


def build_scheduler(cfg: Config, t: TuneSettings) -> Scheduler:
    """The scheduler ``tune.scheduler`` names, with its options: those of the dict form
    (``{type: asha, grace_period: 2}``), or of the scheduler's own block (``tune.asha``)."""
    name = t.scheduler_name
    cls: type[Scheduler] = SCHEDULERS.get(name)  # type: ignore[assignment]
    key = "tune.scheduler"
    options: dict[str, Any] = {}
    if isinstance(t.scheduler, Mapping):
        options = {k: v for k, v in t.scheduler.items() if k != "type"}
    block = t.asha  # the one scheduler with a block of its own in tune:
    if block is not None:
        if name != "asha":
            raise cfg.error(
                f"ASHA options are set but tune.scheduler is {name}; set scheduler: asha or "
                "drop them",
                "tune.asha",
            )
        if options:
            raise cfg.error(
                "ASHA options are set twice, in tune.scheduler and in tune.asha; keep one",
                "tune.asha",
            )
        options, key = dict(block), "tune.asha"
    return cls.from_options(cfg, key, options)


def make_plan(cfg: Config, name: str | None = None) -> SweepPlan:
    """Validate a sweep file and list its trials. Pure: no Ray, no model builds.

    Raises:
        AblateError: any sweep-file mistake, with the file and ``search.``/``tune.`` path.
    """
    space = parse_space(cfg)
    t, strategy, scheduler = read_tune(cfg)
    s = scaling_settings(cfg)
    train = train_settings(cfg)
    epochs = train.epochs
    scheduler.check(cfg, epochs)
    resources = trial_resources(s)
    check_precision(cfg, train, resources)
    name = name or cfg.data.get("name") or Path(cfg.file).stem
    if (
        not isinstance(name, str)
        or not name.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        raise cfg.error(
            f"a sweep name uses letters, digits, '-', '_' and '.', got {name!r}", "name"
        )
    baseline = (
        parse_point(space, t.baseline, "tune.baseline", cfg) if t.baseline is not None else None
    )
    if space.adaptive is not None and (baseline is None or strategy.proposes):
        raise cfg.error(
            "adaptive seeds add seeds where the verdict against the baseline is open: they need "
            "tune.baseline and a strategy that plans its cells"
            + (f" ({t.strategy} proposes them)" if strategy.proposes else ""),
            "search.seeds",
        )
    _check_rounds_scheduler(cfg, space, strategy, scheduler, t)
    rules = exclude_rules(cfg, space, t.exclude)
    if baseline is not None and any(matches(baseline, r) for r in rules):
        raise cfg.error(
            f"the baseline ({describe_point(baseline)}) is excluded by tune.exclude; "
            "every cell is compared with it",
            "tune.exclude",
        )
    named = isinstance(t.target, Mapping)  # else None or "best": the path finds the best
    target = parse_point(space, t.target, "tune.target", cfg) if named else None
    planning = Planning(cfg, space, t, baseline, rules, np.random.default_rng(t.seed), target)
    points = strategy.plan(planning)
    base = base_config(cfg)
    trials = []
    for p, seed in strategy.first_round(planning, points):
        trials.append(TrialSpec(p, seed, cell_id(resolve(base, space, p, 0))))
    return SweepPlan(
        name,
        cfg,
        space,
        t,
        s,
        base,
        trials,
        baseline,
        resources,
        epochs,
        _imports(cfg),
        strategy,
        scheduler,
        planning,
        train,
        mode_given=_mode_given(cfg),
    )


def _check_rounds_scheduler(
    cfg: Config, space: Any, strategy: Strategy, scheduler: Scheduler, t: TuneSettings
) -> None:
    """Sweeps in rounds decide on trials trained to their last epoch; a scheduler that stops
    trials early would hand them a partial metric (and judge each round's new seeds afresh)."""
    if not scheduler.stops_early:
        return
    if space.adaptive is not None:
        raise cfg.error(
            f"adaptive seeds decide on trials trained to the end, and scheduler "
            f"{t.scheduler_name} stops trials early: use scheduler fifo with adaptive seeds, or "
            "a seed list with asha",
            "tune.scheduler",
        )
    if strategy.rounds:
        raise cfg.error(
            f"{t.strategy} races cells on trials trained to the end, and scheduler "
            f"{t.scheduler_name} stops trials early: use scheduler fifo",
            "tune.scheduler",
        )


def check_precision(cfg: Config, train: TrainSettings, resources: Resources) -> None:
    """fp16 needs a GPU: its GradScaler guards against fp16's narrow range, and CPU autocast
    in fp16 is slow where bf16 is not. Whether the cluster has GPUs, :func:`check_fits` says."""
    if train.amp_dtype == "fp16" and not resources.use_gpu:
        raise cfg.error(
            "fp16 needs a GPU but the trials run on CPU",
            "train.amp.dtype",
            hint="use dtype: bf16 on CPU, or set scaling.use_gpu: true",
        )


def _mode_given(cfg: Config) -> bool:
    tune = cfg.data.get("tune")
    return isinstance(tune, Mapping) and tune.get("mode") is not None


def _imports(cfg: Config) -> list[str]:
    spec = cfg.data.get("custom_imports") or {}
    mods = spec.get("imports", []) if isinstance(spec, Mapping) else spec
    return [mods] if isinstance(mods, str) else list(mods)


def exclude_rules(cfg: Config, space: Space, raw: list[dict[str, Any]] | None) -> list[Point]:
    """``tune.exclude`` as partial points (labels -> values), each value checked."""
    rules = []
    for i, rule in enumerate(raw or []):
        if not isinstance(rule, Mapping) or not rule:
            raise cfg.error(
                f"expected a mapping of dimension -> value, got {rule!r}", f"tune.exclude.{i}"
            )
        parsed: Point = {}
        for name, value in rule.items():
            d, value = parse_value(space, name, value, f"tune.exclude.{i}", cfg)
            parsed[d.label] = value
        rules.append(parsed)
    return rules


def check_fits(plan: SweepPlan, nodes: list[dict[str, float]], user_max: int | None = None) -> int:
    """Trials at once on these nodes; an error names the sweep file's ``scaling`` key."""
    try:
        return concurrency(plan.resources, nodes, user_max or plan.tune.max_concurrent)
    except AblateError as err:
        raise plan.cfg.locate(err) from None


__all__ = [
    "Resources",
    "SweepPlan",
    "TrialSpec",
    "build_scheduler",
    "check_fits",
    "check_precision",
    "concurrency",
    "exclude_rules",
    "local_nodes",
    "make_plan",
    "read_tune",
    "trial_resources",
]
