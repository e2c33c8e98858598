"""A sweep's plan: validated settings, the trial list, resources, and a dry build of every
distinct model combination. Nothing here starts Ray: ``ablate plan`` and ``ablate run`` share
it, so whatever ``plan`` can catch never reaches a cluster.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ablate.config import Config
from ablate.errors import AblateError, did_you_mean
from ablate.signature import check_kwargs
from ablate.space import (
    Point,
    Space,
    base_config,
    cell_id,
    cross,
    dedupe,
    describe_point,
    factorial,
    matches,
    one_at_a_time,
    parse_point,
    parse_space,
    random_points,
    resolve,
)

STRATEGIES = ("factorial", "one_at_a_time", "random", "optuna")
SCHEDULERS = ("fifo", "asha")


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
        max_failures: Times Tune retries a failed trial.
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
class ScalingSettings:
    """The ``scaling:`` block: Ray Train's ScalingConfig for every trial.

    Attributes:
        num_workers: DDP workers per trial.
        use_gpu: One GPU per worker (nccl); else CPU workers (gloo).
        resources_per_worker: e.g. ``{CPU: 2, GPU: 1}``; default ``{CPU: 1}``.
        placement_strategy: Ray placement strategy of a trial's workers.
        max_failures: Times Ray Train restarts a failed worker group from its checkpoint.
        ray_train: Force Ray Train even for a single CPU worker (normally run in-process).
    """

    num_workers: int = 1
    use_gpu: bool = False
    resources_per_worker: dict[str, float] | None = None
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"
    max_failures: int = 1
    ray_train: bool = False


@dataclass(frozen=True)
class TrialSpec:
    """One planned trial: a point of the space at one seed."""

    point: Point
    seed: int
    cell: str

    @property
    def name(self) -> str:
        return f"{self.cell}-s{self.seed}"


@dataclass(frozen=True)
class Resources:
    """What one trial holds while it runs.

    ``inline`` trials (one CPU worker) train inside the Tune trial process and hold one
    worker's resources. Ray Train trials hold none in the driver (it only waits) and
    ``num_workers`` worker bundles, all of which must fit at once.
    """

    inline: bool
    num_workers: int
    worker: dict[str, float]

    @property
    def driver(self) -> dict[str, float]:
        """Tune's resource request for the trial process (lower-case keys, Tune's form)."""
        if self.inline:
            return {k.lower(): v for k, v in self.worker.items()}
        # A zero-CPU driver: Tune refuses an empty request, so ask for one byte of memory.
        return {"cpu": 0, "memory": 1}

    def total(self) -> dict[str, float]:
        n = 1 if self.inline else self.num_workers
        return {k: v * n for k, v in self.worker.items() if v}


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


def _settings(cfg: Config, key: str, cls: type) -> Any:
    raw = cfg.data.get(key) or {}
    if not isinstance(raw, Mapping):
        raise cfg.error(f"expected a mapping, got {raw!r}", key)
    try:
        check_kwargs(cls, raw, key=key, type_name=key)
    except AblateError as err:
        raise cfg.locate(err) from None
    return cls(**raw)


def tune_settings(cfg: Config) -> TuneSettings:
    t: TuneSettings = _settings(cfg, "tune", TuneSettings)
    if t.strategy not in STRATEGIES:
        raise cfg.error(
            f"unknown strategy '{t.strategy}'{did_you_mean(t.strategy, STRATEGIES)}; expected one of {', '.join(STRATEGIES)}",
            "tune.strategy",
        )
    if t.scheduler not in SCHEDULERS:
        raise cfg.error(
            f"unknown scheduler '{t.scheduler}'{did_you_mean(t.scheduler, SCHEDULERS)}; expected one of {', '.join(SCHEDULERS)}",
            "tune.scheduler",
        )
    if t.num_samples < 1:
        raise cfg.error(f"expected at least 1, got {t.num_samples}", "tune.num_samples")
    if t.strategy == "one_at_a_time" and t.baseline is None:
        raise cfg.error(
            "one_at_a_time needs a baseline: {dimension: value, ...} to vary one dimension at a time from",
            "tune.baseline",
        )
    if t.trial_timeout is not None and t.trial_timeout <= 0:
        raise cfg.error(
            f"expected a positive number of seconds, got {t.trial_timeout}", "tune.trial_timeout"
        )
    if t.asha is not None:
        unknown = set(t.asha) - {"grace_period", "reduction_factor", "max_t"}
        if unknown:
            name = sorted(unknown)[0]
            raise cfg.error(
                f"unknown ASHA option '{name}'{did_you_mean(name, ['grace_period', 'reduction_factor', 'max_t'])}",
                f"tune.asha.{name}",
            )
    return t


def scaling_settings(cfg: Config) -> ScalingSettings:
    s: ScalingSettings = _settings(cfg, "scaling", ScalingSettings)
    if s.num_workers < 1:
        raise cfg.error(f"expected at least 1 worker, got {s.num_workers}", "scaling.num_workers")
    for k, v in (s.resources_per_worker or {}).items():
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise cfg.error(
                f"expected a non-negative number, got {v!r}", f"scaling.resources_per_worker.{k}"
            )
    return s


def trial_resources(s: ScalingSettings) -> Resources:
    worker = {"CPU": 1.0}
    for k, v in (s.resources_per_worker or {}).items():
        worker[k.upper() if k.lower() in ("cpu", "gpu") else k] = float(v)
    if s.use_gpu:
        worker["GPU"] = worker.get("GPU", 1.0) or 1.0
    inline = s.num_workers == 1 and not s.use_gpu and not s.ray_train and not worker.get("GPU")
    return Resources(inline, s.num_workers, worker)


def concurrency(res: Resources, nodes: list[dict[str, float]], user_max: int | None = None) -> int:
    """How many trials fit at once on a cluster with these nodes' resources.

    Raises:
        AblateError: a trial can never fit: more of a resource than the cluster has, or
            a worker bundle larger than every node.
    """
    if not nodes:
        raise AblateError("the Ray cluster reports no nodes")
    totals: dict[str, float] = {}
    for node in nodes:
        for k, v in node.items():
            totals[k] = totals.get(k, 0.0) + v
    need = res.total()
    for k, v in need.items():
        have = totals.get(k, 0.0)
        if v > have + 1e-9:
            what = (
                f"{res.num_workers} workers x {res.worker.get(k, 0):g} {k}"
                if not res.inline
                else f"{v:g} {k}"
            )
            hint = (
                "set scaling.use_gpu: false, or run on a cluster with GPUs"
                if k == "GPU"
                else "lower scaling.num_workers or scaling.resources_per_worker"
            )
            raise AblateError(
                f"a trial needs {what} = {v:g} {k} but the cluster has {have:g}: it can never start",
                key="scaling",
                hint=hint,
            )
    for k, v in res.worker.items():
        if v and not any(node.get(k, 0.0) + 1e-9 >= v for node in nodes):
            biggest = max(node.get(k, 0.0) for node in nodes)
            raise AblateError(
                f"one worker needs {v:g} {k} but the largest node has {biggest:g}",
                key="scaling.resources_per_worker",
            )
    fits = min(math.floor(totals.get(k, 0.0) / v + 1e-9) for k, v in need.items()) if need else 1
    fits = max(fits, 1)
    return min(fits, user_max) if user_max else fits


def local_nodes() -> list[dict[str, float]]:
    """This machine as a one-node cluster (what a local ``ray.init`` would see)."""
    gpus = 0
    try:
        import torch

        gpus = torch.cuda.device_count()
    except Exception:  # pragma: no cover - a broken CUDA install still plans on CPU
        gpus = 0
    return [{"CPU": float(os.cpu_count() or 1), "GPU": float(gpus)}]


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
    rules = _exclude_rules(cfg, space, t.exclude)
    rng = np.random.default_rng(t.seed)
    if t.strategy == "factorial":
        points = factorial(space, t.num_samples, rng)
    elif t.strategy == "one_at_a_time":
        assert baseline is not None
        points = one_at_a_time(space, baseline, t.num_samples, rng)
    elif t.strategy == "random":
        points = random_points(space, t.num_samples, rng)
    else:
        points = []  # optuna proposes points while the sweep runs
    points = [p for p in dedupe(points) if not any(matches(p, r) for r in rules)]
    if baseline is not None and any(matches(baseline, r) for r in rules):
        raise cfg.error("the baseline itself is excluded by tune.exclude", "tune.baseline")
    if t.strategy != "optuna" and not points:
        raise cfg.error("tune.exclude drops every cell: nothing would run", "tune.exclude")
    base = base_config(cfg)
    trials = []
    for p in points:
        cell = cell_id(resolve(base, space, p, 0))
        trials += [TrialSpec(p, seed, cell) for seed in space.seeds]
    imports = _imports(cfg)
    return SweepPlan(
        name, cfg, space, t, s, base, trials, baseline, trial_resources(s), epochs, imports
    )


def _imports(cfg: Config) -> list[str]:
    spec = cfg.data.get("custom_imports") or {}
    mods = spec.get("imports", []) if isinstance(spec, Mapping) else spec
    return [mods] if isinstance(mods, str) else list(mods)


def _exclude_rules(cfg: Config, space: Space, raw: list[dict[str, Any]] | None) -> list[Point]:
    rules = []
    for i, rule in enumerate(raw or []):
        if not isinstance(rule, Mapping) or not rule:
            raise cfg.error("expected a mapping of dimension -> value", f"tune.exclude.{i}")
        parsed: Point = {}
        for name, value in rule.items():
            d = space.find(str(name))
            if d is None:
                raise cfg.error(
                    f"'{name}' is not a dimension{did_you_mean(str(name), space.labels)}",
                    f"tune.exclude.{i}.{name}",
                )
            if not d.contains(value):
                raise cfg.error(
                    f"{value!r} is not a value of {d.label}", f"tune.exclude.{i}.{name}"
                )
            parsed[d.label] = value
        rules.append(parsed)
    return rules


# --- dry build ---------------------------------------------------------------------------


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
    """Every distinct model combination: discrete choices crossed, continuous at one draw."""
    rng = np.random.default_rng(plan.tune.seed)
    fixed = {d.label: d.dist.sample(rng) for d in plan.space.all_dims() if not d.discrete}  # type: ignore[union-attr]
    rules = _exclude_rules(plan.cfg, plan.space, plan.tune.exclude)
    return [
        p for p in dedupe(cross(plan.space.dims, fixed)) if not any(matches(p, r) for r in rules)
    ]


def dry_build(plan: SweepPlan) -> list[BuildReport]:
    """Build every combination on a sample batch; errors are collected, not raised."""
    from ablate.build import build_model
    from ablate.loop import metric_names

    reports = []
    samples: dict[str, Any] = {}
    for point in combinations(plan):
        resolved = resolve(plan.base, plan.space, point, plan.space.seeds[0])
        rep = BuildReport(point, cell_id(resolved))
        cfg = Config(resolved, plan.cfg.file, dict(plan.cfg.origins))
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
    return reports


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
        cls = DATASETS.get(ds_cfg["type"]) if "type" in ds_cfg else None
        spec = getattr(cls, "sample_spec", None)
        if spec is None:
            raise
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
        else f"{len(missing)} combinations (e.g. {describe_point(missing[0].point)})"
    )
    return f"metric '{plan.tune.metric}' is never reported by {which}{did_you_mean(plan.tune.metric, known)}; reported: {', '.join(known)}"
