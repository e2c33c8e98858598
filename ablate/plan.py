"""A sweep's plan: validated settings, the trial list, resources, and a dry build of every
distinct model combination. Nothing here starts Ray: ``ablate plan`` and ``ablate run`` share
it, so whatever ``plan`` can catch never reaches a cluster.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ablate.config import Config
from ablate.errors import AblateError, did_you_mean
from ablate.points import (
    continuous_dims,
    cross,
    dedupe,
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
                f"unknown {key} '{value}'{_guess(value, names)}; expected one of {', '.join(names)}",
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


def _guess(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)``: a close match, else an option ``word`` begins, else a
    looser match (``val/rank1`` -> ``val/top1``, ``grace`` -> ``grace_period``)."""
    options = list(options)
    found = did_you_mean(word, options)
    if found:
        return found
    longer = [o for o in options if o.startswith(word)]
    loose = longer or difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f" (did you mean '{loose[0]}'?)" if loose else ""


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
                f"unknown ASHA option '{name}'{_guess(str(name), ASHA_OPTIONS)}; "
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


# --- dry build ---------------------------------------------------------------------------

#: Sections that shape a model and its sample batch; the rest (optimizer, train) never do.
MODEL_SECTIONS = ("model", "data", "losses")


@dataclass
class BuildReport:
    """What building one distinct model combination showed."""

    point: Point
    cell: str
    params: int = 0
    shapes: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    metrics: set[str] = field(default_factory=set)
    error: str | None = None
    synthetic: str | None = None


def combinations(plan: SweepPlan) -> list[Point]:
    """The points whose models ``plan`` builds: the planned ones; for optuna, which may
    propose any, every discrete combination with continuous dims at one draw."""
    if plan.tune.strategy != "optuna":
        return plan.points
    rng = np.random.default_rng(plan.tune.seed)
    fixed = {d.label: d.dist.sample(rng) for d in continuous_dims(plan.space) if d.dist}
    return dedupe(cross(plan.space.dims, fixed))


def _section_key(resolved: Mapping[str, Any], sections: tuple[str, ...]) -> str:
    return json.dumps({k: resolved.get(k) for k in sections}, sort_keys=True, default=str)


def dry_build(plan: SweepPlan) -> list[BuildReport]:
    """Build each distinct model on a sample batch and check each distinct optimizer and
    train section; errors are collected, not raised, so all of them are listed at once."""
    import torch

    from ablate.build import build_model, build_optimizer, train_settings
    from ablate.loop import metric_names

    reports: list[BuildReport] = []
    models: set[str] = set()
    optimizers: set[str] = set()
    samples: dict[str, Any] = {}
    for point in combinations(plan):
        resolved = resolve(plan.base, plan.space, point, plan.space.seeds[0])
        cfg = Config(resolved, plan.cfg.file, dict(plan.cfg.origins), list(plan.cfg.order))
        mkey = _section_key(resolved, MODEL_SECTIONS)
        if mkey not in models:
            models.add(mkey)
            rep = BuildReport(_model_part(plan.space, point), cell_id(resolved))
            try:
                data_key = json.dumps(resolved.get("data"), sort_keys=True, default=str)
                if data_key not in samples:
                    samples[data_key] = _sample_for(cfg)
                sample, rep.synthetic = samples[data_key]
                built = build_model(cfg, sample)
                rep.params = sum(p.numel() for p in built.model.parameters())
                rep.shapes = built.shapes
                rep.metrics = metric_names(built)
            except AblateError as err:
                rep.error = str(err)
            reports.append(rep)
        okey = _section_key(resolved, ("optimizer", "train"))
        if okey not in optimizers:
            optimizers.add(okey)
            try:
                epochs = train_settings(cfg).epochs
                build_optimizer(cfg, [torch.nn.Parameter(torch.zeros(1))], epochs)
            except AblateError as err:
                reports.append(BuildReport(point, cell_id(resolved), error=str(err)))
    return reports


def _model_part(space: Space, point: Point) -> Point:
    """The values of a point that shape the model (``neck``, not ``optimizer.lr``)."""
    dims = {d.label: d for d in space.active(point)}
    return {
        k: v for k, v in point.items() if k in dims and dims[k].path.split(".")[0] in MODEL_SECTIONS
    }


def _sample_for(cfg: Config) -> tuple[Any, str | None]:
    """A sample batch from the real dataset, or, when its files are not on this machine and
    the dataset declares ``sample_spec``, a synthetic batch of the same shape."""
    from ablate.build import build_datasets, data_settings, sample_batch
    from ablate.registry import DATASETS

    try:
        train, _ = build_datasets(cfg)
        return sample_batch(train), None
    except AblateError as err:
        ds_cfg = data_settings(cfg).dataset
        cls = DATASETS.get(ds_cfg["type"]) if ds_cfg.get("type") in DATASETS else None
        spec = getattr(cls, "sample_spec", None)
        if cls is None or spec is None:
            raise
        # Only missing files may fall back: a typo'd argument is an error here as anywhere.
        args = {k: v for k, v in ds_cfg.items() if k != "type"}
        try:
            check_kwargs(
                cls, {"split": "train", **args}, key="data.dataset", type_name=ds_cfg["type"]
            )
        except AblateError as bad:
            raise cfg.locate(bad) from None
        import torch

        shape, classes = tuple(spec["inputs"]), int(spec["num_classes"])
        batch = {"inputs": torch.randn(2, *shape), "labels": torch.arange(2) % classes}
        return batch, f"{err.message}; models were built on a synthetic {shape} batch"


def check_metric(plan: SweepPlan, reports: list[BuildReport]) -> str | None:
    """An error text when some combination never reports the sweep's metric."""
    ok = [r for r in reports if r.error is None]
    missing = [r for r in ok if plan.tune.metric not in r.metrics]
    if not missing:
        return None
    known = sorted(set().union(*(r.metrics for r in ok)))
    which = (
        "any combination"
        if len(missing) == len(ok)
        else f"{len(missing)} of {len(ok)} combinations (e.g. {describe_point(missing[0].point)})"
    )
    return (
        f"metric '{plan.tune.metric}' is never reported by {which}"
        f"{_guess(plan.tune.metric, known)}; reported: {', '.join(known)}"
    )


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
