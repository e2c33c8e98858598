"""Checking a plan before anything runs: build each distinct model combination on a sample
batch, check each distinct optimizer and train section, and that the sweep's metric is
reported. Errors are collected, so ``ablate plan`` lists every broken combination at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ablate.config import Config
from ablate.errors import AblateError, AblateErrors, did_you_mean, problems_line
from ablate.plan import SweepPlan
from ablate.registry import DATASETS
from ablate.search.resolve import cell_id, resolve
from ablate.search.space import Point, Space, describe_point
from ablate.settings import data_settings, evaluation_settings, train_settings
from ablate.signature import check_kwargs
from ablate.train.build import (
    build_datasets,
    build_model,
    build_sampler,
    build_test_dataset,
    check_optimizer,
    sample_batch,
)
from ablate.train.loop import metric_names
from ablate.train.metrics import build_metrics
from ablate.train.static import config_problems

#: Sections that shape a model, its sample batch or what reads its output; the rest
#: (optimizer, train) never do. ``model_cfg`` and ``loss_cfg`` are OpenGait's names.
MODEL_SECTIONS = ("model", "data", "losses", "evaluation", "model_cfg", "loss_cfg")


@dataclass
class BuildReport:
    """What building one distinct model combination showed."""

    point: Point
    cell: str
    params: int = 0
    shapes: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    metrics: set[str] = field(default_factory=set)
    modes: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    #: The error itself, when it is about evaluation: (a metric that cannot read the output).
    evaluation_error: AblateError | None = None
    synthetic: str | None = None
    replaced: list[str] = field(default_factory=list)


def _section_key(resolved: Mapping[str, Any], sections: tuple[str, ...]) -> str:
    return json.dumps({k: resolved.get(k) for k in sections}, sort_keys=True, default=str)


def _configs(plan: SweepPlan) -> Iterator[tuple[Point, dict[str, Any], Config]]:
    """Each point ``ablate plan`` builds, resolved at the first seed."""
    for point in plan.build_points():
        resolved = resolve(plan.base, plan.space, point, plan.space.seeds[0])
        yield (
            point,
            resolved,
            Config(resolved, plan.cfg.file, dict(plan.cfg.origins), list(plan.cfg.order)),
        )


def static_problems(plan: SweepPlan) -> list[str]:
    """Every static mistake over all cells, one line each, no repeats."""
    lines: dict[str, None] = {}
    for point, _, cfg in _configs(plan):
        lines.update(dict.fromkeys(_where(plan, point, err) for err in config_problems(cfg)))
    return list(lines)


def _where(plan: SweepPlan, point: Point, err: AblateError) -> str:
    """A mistake in a searched value is the search's: the sweep file, and the values."""
    key = err.key or ""
    dims = [
        d
        for d in plan.space.active(point)
        if key == d.path or key.startswith(d.path + ".") or d.path.startswith(key + ".")
    ]
    if not dims:
        return str(err)
    err.file = plan.cfg.file
    return f"[{describe_point({d.label: point[d.label] for d in dims})}] {err}"


def dry_build(plan: SweepPlan, optimizers: bool = True) -> list[BuildReport]:
    """Build each distinct model on a sample batch and check each distinct optimizer and
    train section; errors are collected, not raised, so all of them are listed at once.
    ``optimizers=False`` leaves the optimizers to the static check."""
    reports: list[BuildReport] = []
    models: set[str] = set()
    seen_opt: set[str] = set()
    samples: dict[str, Any] = {}
    for point, resolved, cfg in _configs(plan):
        mkey = _section_key(resolved, MODEL_SECTIONS)
        if mkey not in models:
            models.add(mkey)
            rep = BuildReport(_model_part(plan.space, point), cell_id(resolved))
            try:
                data_key = json.dumps(resolved.get("data"), sort_keys=True, default=str)
                if data_key not in samples:
                    samples[data_key] = _sample_for(cfg, plan.scaling.num_workers)
                sample, rep.synthetic = samples[data_key]
                built = build_model(cfg, sample)
                rep.params = sum(p.numel() for p in built.model.parameters())
                rep.shapes = built.shapes
                rep.metrics = metric_names(built)
                rep.modes = dict(built.modes)
                rep.replaced = built.replaced
            except AblateError as err:
                rep.error = str(err)
                if (err.key or "").startswith("evaluation"):
                    rep.evaluation_error = err
            reports.append(rep)
        okey = _section_key(resolved, ("optimizer", "train"))
        if optimizers and okey not in seen_opt:
            seen_opt.add(okey)
            try:
                check_optimizer(cfg, train_settings(cfg).epochs)
            except AblateError as err:
                reports.append(BuildReport(point, cell_id(resolved), error=str(err)))
    return reports


def _model_part(space: Space, point: Point) -> Point:
    """The values of a point that shape the model (``neck``, not ``optimizer.lr``)."""
    dims = {d.label: d for d in space.active(point)}
    return {
        k: v for k, v in point.items() if k in dims and dims[k].path.split(".")[0] in MODEL_SECTIONS
    }


def _sample_for(cfg: Config, world_size: int = 1) -> tuple[Any, str | None]:
    """A sample batch from the real dataset, or, when its files are not on this machine and
    the dataset declares ``sample_spec``, a synthetic batch of the same shape. With the real
    dataset, ``data.sampler`` is built too, for rank 0 of ``world_size``."""
    try:
        train, _ = build_datasets(cfg)
        build_test_dataset(cfg)  # evaluation.test on a dataset without a test split
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
        shape, classes = tuple(spec["inputs"]), int(spec["num_classes"])
        batch = {"inputs": torch.randn(2, *shape), "labels": torch.arange(2) % classes}
        return batch, f"{err.message}; models were built on a synthetic {shape} batch"
    build_sampler(cfg, train, 0, world_size, train_settings(cfg).seed)
    return sample_batch(train), None


def check_builds(plan: SweepPlan) -> list[BuildReport]:
    """Check every cell statically, dry-build each, and raise once with everything found:
    a shape that does not fit never hides a misspelt argument, nor the other way round.

    Raises:
        AblateErrors: static mistakes, or combinations that do not build (a line each).
        AblateError: some combination never reports the sweep's metric.
    """
    static = static_problems(plan)
    try:
        _check_metric_configs(plan.cfg)
    except AblateError as err:
        static.insert(0, str(err))
    builds = dry_build(plan, optimizers=False)
    # A build stops at its first mistake; one the static check already named is not news.
    bad = [b for b in builds if b.error and not any(b.error in line for line in static)]
    if len(static) == 1 and not bad and not static[0].startswith("["):
        raise AblateError(static[0])  # one mistake of the base config, one line
    one_way = len(bad) == len(builds) and len({b.error for b in bad}) == 1
    if not static and one_way and bad[0].evaluation_error is not None:
        # Every combination fails one way on its metrics: that is one mistake, one line.
        raise bad[0].evaluation_error
    if static or bad:
        lines = static + [f"[{describe_point(b.point)}] {b.error}" for b in bad]
        what = (
            problems_line(len(lines))
            if static
            else f"{len(bad)} of {len(builds)} model combinations do not build"
        )
        raise AblateErrors(what, lines, file=plan.cfg.file, key="search" if not static else None)
    problem = check_metric(plan, builds)
    if problem:
        raise plan.cfg.error(problem, "tune.metric")
    _resolve_mode(plan, builds)
    return builds


def _resolve_mode(plan: SweepPlan, builds: list[BuildReport]) -> None:
    """An omitted ``tune.mode`` becomes the metric's own (``val/mse`` min); metrics that
    disagree across combinations (two plugins' ``score``) need it written."""
    if plan.mode_given:
        return
    modes = {b.modes[plan.tune.metric] for b in builds if plan.tune.metric in b.modes}
    if len(modes) > 1:
        raise plan.cfg.error(
            f"metric '{plan.tune.metric}' is higher-is-better in some combinations and "
            "lower-is-better in others; set tune.mode: max or min",
            "tune.mode",
        )
    if modes:
        plan.tune = replace(plan.tune, mode=modes.pop())  # type: ignore[arg-type]


def _check_metric_configs(cfg: Config) -> None:
    """``evaluation.metrics`` built once, on its own: a typo in a metric is one line, not
    one per model combination."""
    configured = evaluation_settings(cfg).metrics
    if configured is None:
        return
    try:
        build_metrics(configured)
    except AblateError as err:
        raise cfg.locate(err) from None


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
        f"{'' if plan.tune.metric in known else did_you_mean(plan.tune.metric, known, loose=True)}"
        f"; reported: {', '.join(known)}"
    )


__all__ = [
    "MODEL_SECTIONS",
    "BuildReport",
    "check_builds",
    "check_metric",
    "dry_build",
    "static_problems",
]
