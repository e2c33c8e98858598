"""A sweep's plan: validated ``tune:`` settings and the trial list, with what each trial asks
of a cluster (:mod:`ablate.resources`) and the dry builds that check it (:mod:`ablate.check`).
Nothing here starts Ray: ``ablate plan`` and ``ablate run`` share it, so whatever ``plan``
can catch never reaches a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ablate.check import BuildReport, check_metric, combinations, dry_build, guess
from ablate.config import Config
from ablate.errors import AblateError
from ablate.points import (
    continuous_dims,
    factorial,
    matches,
    one_at_a_time,
    random_points,
)
from ablate.resources import (
    Resources,
    ScalingSettings,
    concurrency,
    local_nodes,
    scaling_settings,
    trial_resources,
)
from ablate.signature import check_kwargs
from ablate.space import (
    Point,
    Space,
    base_config,
    cell_id,
    describe_point,
    parse_point,
    parse_space,
    parse_value,
    resolve,
)

STRATEGIES = ("factorial", "one_at_a_time", "random", "optuna")
SCHEDULERS = ("fifo", "asha")
ASHA_OPTIONS = ("grace_period", "reduction_factor", "max_t")


@dataclass(frozen=True)
class TuneSettings:
    """The ``tune:`` block.

    Attributes:
        strategy: factorial, one_at_a_time, random or optuna.
        metric: The metric to rank and search by (``val/top1``).
        mode: ``max`` or ``min``.
        scheduler: ``fifo`` or ``asha``.
        num_samples: Points drawn by random/optuna, or levels of continuous dims.
        baseline: The reference cell (required by one_at_a_time).
        exclude: Partial points whose matching cells are dropped.
        seed: Seed of the sampling (not of training).
        asha: ASHAScheduler options: grace_period, reduction_factor, max_t.
        max_failures: Times Tune retries a failed trial (-1: forever).
        trial_timeout: Seconds after which a trial is stopped and marked failed.
        max_concurrent: Upper bound on trials at once (the cluster's size bounds it too).
    """

    strategy: str = "factorial"
    metric: str = "val/top1"
    mode: Literal["max", "min"] = "max"
    scheduler: str = "fifo"
    num_samples: int = 1
    baseline: dict[str, Any] | None = None
    exclude: list[dict[str, Any]] | None = None
    seed: int = 0
    asha: dict[str, Any] | None = None
    max_failures: int = 0
    trial_timeout: float | None = None
    max_concurrent: int | None = None


@dataclass(frozen=True)
class TrialSpec:
    """One planned trial: a point of the space at one seed."""

    point: Point
    seed: int
    cell: str

    @property
    def name(self) -> str:
        return f"{self.cell}-s{self.seed}"


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

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "strategy": self.tune.strategy,
            "metric": self.tune.metric,
            "mode": self.tune.mode,
            "baseline": self.baseline,
            "dimensions": self.space.labels,
            "seeds": self.space.seeds,
        }


def tune_settings(cfg: Config) -> TuneSettings:
    raw = cfg.data.get("tune") or {}
    if not isinstance(raw, Mapping):
        raise cfg.error(f"expected a mapping, got {raw!r}", "tune")
    try:
        check_kwargs(TuneSettings, raw, key="tune", type_name="tune")
    except AblateError as err:
        raise cfg.locate(err) from None
    t = TuneSettings(**raw)
    for key, value, names in (
        ("strategy", t.strategy, STRATEGIES),
        ("scheduler", t.scheduler, SCHEDULERS),
    ):
        if value not in names:
            raise cfg.error(
                f"unknown {key} '{value}'{guess(value, names)}; expected one of {', '.join(names)}",
                f"tune.{key}",
            )
    low = {"num_samples": 1, "seed": 0, "max_failures": -1, "max_concurrent": 1}
    for key, lo in low.items():
        value = getattr(t, key)
        if value is not None and value < lo:
            raise cfg.error(f"expected at least {lo}, got {value}", f"tune.{key}")
    if not t.metric.strip():
        raise cfg.error("expected a metric name, e.g. val/top1", "tune.metric")
    if t.strategy == "one_at_a_time" and t.baseline is None:
        raise cfg.error(
            "one_at_a_time needs a baseline: {dimension: value, ...} to vary one dimension at a time from",
            "tune.baseline",
        )
    if t.strategy == "optuna" and t.exclude:
        raise cfg.error(
            "optuna proposes points as it goes and cannot skip excluded ones; "
            "drop tune.exclude or narrow the search space",
            "tune.exclude",
        )
    if t.trial_timeout is not None and t.trial_timeout <= 0:
        raise cfg.error(
            f"expected a positive number of seconds, got {t.trial_timeout}", "tune.trial_timeout"
        )
    _check_asha(cfg, t)
    return t


def _check_asha(cfg: Config, t: TuneSettings) -> None:
    if t.asha is None:
        return
    if t.scheduler != "asha":
        raise cfg.error(
            f"ASHA options are set but tune.scheduler is {t.scheduler}; set scheduler: asha or drop them",
            "tune.asha",
        )
    for name, value in t.asha.items():
        if name not in ASHA_OPTIONS:
            raise cfg.error(
                f"unknown ASHA option '{name}'{guess(str(name), ASHA_OPTIONS)}; "
                f"expected {', '.join(ASHA_OPTIONS)}",
                f"tune.asha.{name}",
            )
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if name == "reduction_factor" and not (number and value > 1):
            raise cfg.error(f"expected a number above 1, got {value!r}", f"tune.asha.{name}")
        if name != "reduction_factor" and not (
            isinstance(value, int) and not isinstance(value, bool) and value >= 1
        ):
            raise cfg.error(
                f"expected a whole number of epochs >= 1, got {value!r}", f"tune.asha.{name}"
            )


def make_plan(cfg: Config, name: str | None = None) -> SweepPlan:
    """Validate a sweep file and list its trials. Pure: no Ray, no model builds.

    Raises:
        AblateError: any sweep-file mistake, with the file and ``search.``/``tune.`` path.
    """
    space = parse_space(cfg)
    t = tune_settings(cfg)
    s = scaling_settings(cfg)
    from ablate.build import train_settings

    epochs = train_settings(cfg).epochs
    if t.asha is not None:
        grace, max_t = t.asha.get("grace_period", 1), t.asha.get("max_t", epochs)
        if grace > max_t:
            raise cfg.error(
                f"grace_period {grace} exceeds max_t {max_t} (train.epochs is {epochs}); "
                "ASHA would never stop a trial",
                "tune.asha.grace_period",
            )
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
    rules = exclude_rules(cfg, space, t.exclude)
    if baseline is not None and any(matches(baseline, r) for r in rules):
        raise cfg.error(
            f"the baseline ({describe_point(baseline)}) is excluded by tune.exclude; "
            "every cell is compared with it",
            "tune.exclude",
        )
    points = _points(cfg, space, t, baseline, rules)
    base = base_config(cfg)
    trials = []
    for p in points:
        cell = cell_id(resolve(base, space, p, 0))
        trials += [TrialSpec(p, seed, cell) for seed in space.seeds]
    return SweepPlan(
        name, cfg, space, t, s, base, trials, baseline, trial_resources(s), epochs, _imports(cfg)
    )


def _points(
    cfg: Config, space: Space, t: TuneSettings, baseline: Point | None, rules: list[Point]
) -> list[Point]:
    """The strategy's points, without excluded ones. Optuna's come while the sweep runs."""
    rng = np.random.default_rng(t.seed)
    if (
        t.num_samples > 1
        and t.strategy in ("factorial", "one_at_a_time")
        and not continuous_dims(space)
    ):
        raise cfg.error(
            f"{t.strategy} runs every cell once; num_samples draws levels of continuous "
            "dimensions and this space has none; repeat cells with search.seeds instead",
            "tune.num_samples",
        )
    if t.strategy == "optuna":
        return []
    if t.strategy == "random":
        points = random_points(space, t.num_samples, rng, lambda p: not _excluded(p, rules))
        if len(points) < t.num_samples:
            if not points and rules:
                raise cfg.error("tune.exclude drops every cell: nothing would run", "tune.exclude")
            left = " after tune.exclude" if rules else ""
            raise cfg.error(
                f"random asks for {t.num_samples} distinct points but the space has only "
                f"{len(points)}{left}; lower num_samples or use strategy: factorial",
                "tune.num_samples",
            )
        return points
    if t.strategy == "factorial":
        points = factorial(space, t.num_samples, rng)
    else:
        assert baseline is not None
        points = one_at_a_time(space, baseline, t.num_samples, rng)
    for i, rule in enumerate(rules):
        if not any(matches(p, rule) for p in points):
            raise cfg.error(
                f"{describe_point(rule)} matches none of the {len(points)} planned cells; "
                "remove the rule or fix its values",
                f"tune.exclude.{i}",
            )
    kept = [p for p in points if not _excluded(p, rules)]
    if not kept:
        raise cfg.error(
            f"tune.exclude drops every cell ({len(points)} of {len(points)}): nothing would run",
            "tune.exclude",
        )
    return kept


def _excluded(point: Point, rules: list[Point]) -> bool:
    return any(matches(point, r) for r in rules)


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
    "BuildReport",
    "Resources",
    "ScalingSettings",
    "SweepPlan",
    "TrialSpec",
    "TuneSettings",
    "check_fits",
    "check_metric",
    "combinations",
    "concurrency",
    "dry_build",
    "exclude_rules",
    "local_nodes",
    "make_plan",
    "scaling_settings",
    "trial_resources",
    "tune_settings",
]
