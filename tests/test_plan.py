"""Plans without Ray: tune/scaling settings, trial lists, exclusions, resource arithmetic, and
dry builds on a sample batch (tiny models, so the whole file runs in seconds)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from ablate.config import Config
from ablate.errors import AblateError
from ablate.plan import Resources, check_fits, concurrency, make_plan, trial_resources
from ablate.settings import ScalingSettings
from ablate.train.check import check_metric, dry_build

BASE: dict[str, Any] = {
    "model": {
        "type": "ImageClassifier",
        "backbone": {
            "type": "ResNet_CIFAR",
            "depth": 18,
            "in_channels": 1,
            "base_channels": 4,
            "num_stages": 2,
            "strides": [1, 2],
            "out_indices": [1],
        },
        "neck": {"type": "GlobalAveragePooling"},
        "head": {"type": "LinearClsHead", "num_classes": 10, "topk": [1]},
    },
    "data": {"dataset": {"type": "Digits", "limit": 16}, "batch_size": 8},
    "optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9},
    "train": {"epochs": 3, "num_threads": 1},
}

GAP = {"type": "GlobalAveragePooling"}
GEM = {"type": "GeneralizedMeanPooling", "p": {"choice": [2.0, 3.0]}}
FLAT = {"type": "Flatten"}
LINEAR = {"type": "LinearClsHead"}
STACKED = {"type": "StackedLinearClsHead", "mid_channels": [8]}
NECK_HEAD = {"model.neck": [GAP, GEM], "model.head": [LINEAR, STACKED], "seeds": [0, 1, 2]}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Dry builds on 2-sample batches gain nothing from threads on 2 shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sweep(search: dict[str, Any], tune: Any = None, scaling: Any = None, **over: Any) -> Config:
    data = copy.deepcopy(BASE)
    data.update(over)
    data["search"] = search
    if tune is not None:
        data["tune"] = tune
    if scaling is not None:
        data["scaling"] = scaling
    return Config(data, "sweep.yaml")


def plan_error(cfg: Config) -> AblateError:
    with pytest.raises(AblateError) as err:
        make_plan(cfg)
    assert err.value.file == "sweep.yaml"
    return err.value


# --- trial lists ---------------------------------------------------------------------------


def test_factorial_plan_counts_cells_and_seeds() -> None:
    plan = make_plan(sweep(NECK_HEAD))
    assert len(plan.cells) == (1 + 2) * 2
    assert len(plan.trials) == 6 * 3
    assert len({t.name for t in plan.trials}) == len(plan.trials)
    assert plan.name == "sweep"  # the file's stem when no name: is given
    assert plan.resources.inline


def test_one_at_a_time_plan_starts_at_the_baseline() -> None:
    tune = {
        "strategy": "one_at_a_time",
        "baseline": {"neck": "GlobalAveragePooling", "model.head": "LinearClsHead"},
    }
    plan = make_plan(sweep(NECK_HEAD, tune))
    assert (
        plan.points[0]
        == plan.baseline
        == {
            "neck": "GlobalAveragePooling",
            "head": "LinearClsHead",
        }
    )
    assert len(plan.cells) == 3  # baseline, GeM (p at its first value), Stacked head


def test_random_plan_is_deterministic_by_seed() -> None:
    search = {"model.neck": [GAP, GEM, FLAT], "optimizer.lr": {"loguniform": [1e-3, 1e-1]}}
    a = make_plan(sweep(search, {"strategy": "random", "num_samples": 8, "seed": 1}))
    b = make_plan(sweep(search, {"strategy": "random", "num_samples": 8, "seed": 1}))
    c = make_plan(sweep(search, {"strategy": "random", "num_samples": 8, "seed": 2}))
    assert len(a.cells) == 8 and a.points == b.points and a.points != c.points


def test_optuna_plan_lists_no_trials_up_front() -> None:
    search = {"optimizer.lr": {"loguniform": [1e-3, 1e-1]}}
    plan = make_plan(sweep(search, {"strategy": "optuna", "scheduler": "asha", "num_samples": 12}))
    assert plan.trials == [] and plan.tune.num_samples == 12


def test_exclude_drops_matching_cells() -> None:
    tune = {"exclude": [{"neck": "GeneralizedMeanPooling", "head": "StackedLinearClsHead"}]}
    plan = make_plan(sweep(NECK_HEAD, tune))
    assert len(plan.cells) == 6 - 2
    assert not any(
        p["neck"] == "GeneralizedMeanPooling" and p["head"] == "StackedLinearClsHead"
        for p in plan.points
    )
    tune = {"exclude": [{"neck.p": 3.0}]}
    assert len(make_plan(sweep(NECK_HEAD, tune)).cells) == 6 - 2


def test_random_never_samples_excluded_points() -> None:
    search = {"model.neck": [GAP, FLAT], "optimizer.lr": {"uniform": [0.01, 0.1]}}
    tune = {"strategy": "random", "num_samples": 6, "exclude": [{"neck": "Flatten"}]}
    plan = make_plan(sweep(search, tune))
    assert len(plan.cells) == 6 and all(p["neck"] == "GlobalAveragePooling" for p in plan.points)


@pytest.mark.parametrize(
    ("search", "tune", "key", "message"),
    [
        (
            NECK_HEAD,
            {
                "exclude": [{"neck": "GlobalAveragePooling"}],
                "baseline": {"neck": "GlobalAveragePooling", "head": "LinearClsHead"},
            },
            "tune.exclude",
            "the baseline (neck=GlobalAveragePooling, head=LinearClsHead) is excluded",
        ),
        (
            NECK_HEAD,
            {"exclude": [{"neck": "GlobalAveragePooling"}, {"neck": "GeneralizedMeanPooling"}]},
            "tune.exclude",
            "drops every cell (6 of 6)",
        ),
        (
            NECK_HEAD,
            {
                "strategy": "one_at_a_time",
                "baseline": {"neck": "GlobalAveragePooling", "head": "LinearClsHead"},
                "exclude": [{"neck": "GeneralizedMeanPooling", "head": "StackedLinearClsHead"}],
            },
            "tune.exclude.0",
            "matches none of the 3 planned cells",
        ),
        (
            NECK_HEAD,
            {"exclude": [{"nek": "Flatten"}]},
            "tune.exclude.0.nek",
            "(did you mean 'neck'?)",
        ),
        (
            NECK_HEAD,
            {"exclude": [{"neck": "Flaten"}]},
            "tune.exclude.0.neck",
            "not in the space of neck",
        ),
        (
            NECK_HEAD,
            {"exclude": [{}]},
            "tune.exclude.0",
            "expected a mapping of dimension -> value",
        ),
        (
            {"model.neck": [GAP, FLAT]},
            {"strategy": "random", "num_samples": 3},
            "tune.num_samples",
            "random asks for 3 distinct points but the space has only 2",
        ),
        (
            {"model.neck": [GAP, FLAT]},
            {"num_samples": 3},
            "tune.num_samples",
            "factorial runs every cell once",
        ),
        (
            {"model.neck": [GAP, FLAT]},
            {"strategy": "optuna", "exclude": [{"neck": "Flatten"}]},
            "tune.exclude",
            "optuna proposes points as it goes",
        ),
        (
            NECK_HEAD,
            {"strategy": "one_at_a_time"},
            "tune.baseline",
            "one_at_a_time needs a baseline",
        ),
        (NECK_HEAD, {"strategy": "grid"}, "tune.strategy", "unknown strategy 'grid'"),
        (
            NECK_HEAD,
            {"strategy": "one_at_time"},
            "tune.strategy",
            "(did you mean 'one_at_a_time'?)",
        ),
        (NECK_HEAD, {"scheduler": "ashaa"}, "tune.scheduler", "(did you mean 'asha'?)"),
        (NECK_HEAD, {"metrc": "val/top1"}, "tune.metrc", "(did you mean 'metric'?)"),
        (NECK_HEAD, {"mode": "maximum"}, "tune.mode", "expected 'max' | 'min'"),
        (NECK_HEAD, {"seed": -1}, "tune.seed", "expected at least 0, got -1"),
        (NECK_HEAD, {"seed": "a"}, "tune.seed", "expected int"),
        (NECK_HEAD, {"num_samples": 0}, "tune.num_samples", "expected at least 1, got 0"),
        (NECK_HEAD, {"max_concurrent": 0}, "tune.max_concurrent", "expected at least 1"),
        (
            NECK_HEAD,
            {"trial_timeout": 0},
            "tune.trial_timeout",
            "expected a positive number of seconds",
        ),
        (NECK_HEAD, {"metric": " "}, "tune.metric", "expected a metric name"),
        (NECK_HEAD, {"asha": {"grace_period": 1}}, "tune.asha", "tune.scheduler is fifo"),
        (
            NECK_HEAD,
            {"scheduler": "asha", "asha": {"grace": 1}},
            "tune.asha.grace",
            "(did you mean 'grace_period'?)",
        ),
        (
            NECK_HEAD,
            {"scheduler": "asha", "asha": {"reduction_factor": 1}},
            "tune.asha.reduction_factor",
            "above 1",
        ),
        (
            NECK_HEAD,
            {"scheduler": "asha", "asha": {"grace_period": 5}},
            "tune.asha.grace_period",
            "exceeds max_t 3 (train.epochs is 3)",
        ),
        (NECK_HEAD, "fifo", "tune", "expected a mapping"),
        # the dict form of a scheduler: options are its constructor's arguments
        (
            NECK_HEAD,
            {"scheduler": {"grace_period": 1}},
            "tune.scheduler",
            "expected {type: <scheduler>",
        ),
        (
            NECK_HEAD,
            {"scheduler": {"type": "asha", "grace": 1}},
            "tune.scheduler.grace",
            "(did you mean 'grace_period'?)",
        ),
        (
            NECK_HEAD,
            {"scheduler": {"type": "asha", "grace_period": 2}, "asha": {"max_t": 3}},
            "tune.asha",
            "set twice",
        ),
        (NECK_HEAD, {"scheduler": {"type": "fifo", "x": 1}}, "tune.scheduler.x", "takes none"),
        (NECK_HEAD, {"scheduler": {"type": "ashaa"}}, "tune.scheduler", "(did you mean 'asha'?)"),
    ],
)
def test_tune_mistakes(search: dict[str, Any], tune: Any, key: str, message: str) -> None:
    err = plan_error(sweep(search, tune))
    assert err.key == key
    assert message in err.message


@pytest.mark.parametrize(
    ("scaling", "key", "message"),
    [
        ({"num_worker": 2}, "scaling.num_worker", "(did you mean 'num_workers'?)"),
        ({"num_workers": 0}, "scaling.num_workers", "expected at least 1 worker"),
        ({"use_gpu": "yes"}, "scaling.use_gpu", "expected bool"),
        ({"resources_per_worker": {"CPU": -1}}, "scaling.resources_per_worker.CPU", "non-negative"),
        (
            {"placement_strategy": "PACKED"},
            "scaling.placement_strategy",
            "expected 'PACK' | 'SPREAD'",
        ),
    ],
)
def test_scaling_mistakes(scaling: dict[str, Any], key: str, message: str) -> None:
    err = plan_error(sweep(NECK_HEAD, scaling=scaling))
    assert err.key == key
    assert message in err.message


def test_sweep_name_must_be_simple() -> None:
    err = plan_error(sweep(NECK_HEAD, name="my sweep!"))
    assert err.key == "name"


# --- resources ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scaling", "inline", "worker"),
    [
        (ScalingSettings(), True, {"CPU": 1.0}),
        (ScalingSettings(ray_train=True), False, {"CPU": 1.0}),
        (ScalingSettings(num_workers=2), False, {"CPU": 1.0}),
        (ScalingSettings(resources_per_worker={"cpu": 2}), True, {"CPU": 2.0}),
        # One GPU worker trains in the trial process too: no worker group, no process group.
        (ScalingSettings(use_gpu=True), True, {"CPU": 1.0, "GPU": 1.0}),
        (ScalingSettings(use_gpu=True, ray_train=True), False, {"CPU": 1.0, "GPU": 1.0}),
        (ScalingSettings(gpus_per_trial=0.25), True, {"CPU": 1.0, "GPU": 0.25}),
        (ScalingSettings(resources_per_worker={"GPU": 0.5}), True, {"CPU": 1.0, "GPU": 0.5}),
        (
            ScalingSettings(
                num_workers=4, use_gpu=True, resources_per_worker={"CPU": 4, "gpu": 0.5}
            ),
            False,
            {"CPU": 4.0, "GPU": 0.5},
        ),
    ],
)
def test_trial_resources(scaling: ScalingSettings, inline: bool, worker: dict[str, float]) -> None:
    res = trial_resources(scaling)
    assert res.inline is inline and res.worker == worker
    if inline:
        assert res.driver == {k.lower(): v for k, v in worker.items()}
    else:
        assert res.driver == {"cpu": 0, "memory": 1}  # the driver only waits: no CPU
        assert res.total() == {k: v * scaling.num_workers for k, v in worker.items()}


@pytest.mark.parametrize(
    ("scaling", "per_gpu"),
    [
        (ScalingSettings(), 1),
        (ScalingSettings(use_gpu=True), 1),
        (ScalingSettings(gpus_per_trial=0.25), 4),
        (ScalingSettings(gpus_per_trial=0.3), 3),
        (ScalingSettings(resources_per_worker={"GPU": 0.5}), 2),
    ],
)
def test_trials_per_gpu(scaling: ScalingSettings, per_gpu: int) -> None:
    res = trial_resources(scaling)
    assert res.trials_per_gpu == per_gpu
    assert res.use_gpu is (per_gpu > 1 or scaling.use_gpu)


def res(num_workers: int = 1, **kw: Any) -> Resources:
    return trial_resources(ScalingSettings(num_workers=num_workers, **kw))


def node(cpu: float, gpu: float = 0.0) -> dict[str, float]:
    return {"CPU": cpu, "GPU": gpu, "memory": 8e9}


@pytest.mark.parametrize(
    ("resources", "nodes", "user_max", "expected"),
    [
        (res(1), [node(2)], None, 2),
        (res(1), [node(8)], 3, 3),
        (res(1), [node(8), node(4)], None, 12),
        # The Tune+Train deadlock case: a 2-worker trial fills a 2-CPU node and still runs.
        (res(2), [node(2)], None, 1),
        (res(2), [node(5)], None, 2),
        (res(2), [node(3), node(3)], None, 3),
        (res(2, placement_strategy="STRICT_PACK"), [node(3), node(3)], None, 2),
        (res(2, placement_strategy="STRICT_SPREAD"), [node(3), node(3)], None, 3),
        (res(3, placement_strategy="STRICT_SPREAD"), [node(3), node(3), node(1)], None, 1),
        (res(4, use_gpu=True), [node(16, 4), node(16, 4)], None, 2),
        (res(4, use_gpu=True), [node(16, 4), node(16, 4)], 1, 1),
        (res(2, resources_per_worker={"CPU": 2}), [node(3), node(3)], None, 1),
        # Packed small trials: concurrency follows the GPU share (and the CPUs).
        (res(1, use_gpu=True), [node(16, 4)], None, 4),
        (res(1, gpus_per_trial=0.25), [node(16, 1)], None, 4),
        (res(1, gpus_per_trial=0.25), [node(16, 2), node(2, 1)], None, 10),
        (res(1, gpus_per_trial=0.3), [node(16, 1)], None, 3),
        (res(1, resources_per_worker={"CPU": 4, "GPU": 0.25}), [node(8, 1)], None, 2),
    ],
)
def test_concurrency(
    resources: Resources, nodes: list[dict[str, float]], user_max: int | None, expected: int
) -> None:
    assert concurrency(resources, nodes, user_max) == expected


@pytest.mark.parametrize(
    ("resources", "nodes", "key", "message"),
    [
        (
            res(3),
            [node(2)],
            "scaling.num_workers",
            "a trial needs 3 workers x 1 CPU = 3 CPU but the cluster has 2",
        ),
        (res(64), [node(2)], "scaling.num_workers", "can never start"),
        (res(1, use_gpu=True), [node(8)], "scaling.use_gpu", "1 GPU but the cluster has 0"),
        (
            res(1, resources_per_worker={"CPU": 6}),
            [node(4), node(4)],
            "scaling.resources_per_worker.CPU",
            "one worker needs 6 CPU but the largest node has 4",
        ),
        (
            res(2, resources_per_worker={"CPU": 3}),
            [node(4), node(2)],
            "scaling.placement_strategy",
            "2 workers cannot be placed PACK",
        ),
        (
            res(2, placement_strategy="STRICT_PACK"),
            [node(1), node(1)],
            "scaling.placement_strategy",
            "cannot be placed STRICT_PACK",
        ),
        (
            res(2, placement_strategy="STRICT_SPREAD"),
            [node(4)],
            "scaling.placement_strategy",
            "cannot be placed STRICT_SPREAD",
        ),
        (res(1), [], None, "reports no nodes"),
        (res(1), [node(2)], "max_concurrent", "expected at least 1 trial at once, got 0"),
    ],
)
def test_resources_that_never_fit(
    resources: Resources, nodes: list[dict[str, float]], key: str | None, message: str
) -> None:
    with pytest.raises(AblateError) as err:
        concurrency(resources, nodes, 0 if key == "max_concurrent" else None)
    assert err.value.key == key
    assert message in err.value.message


def test_check_fits_names_the_sweep_file() -> None:
    plan = make_plan(sweep(NECK_HEAD, scaling={"num_workers": 64}))
    with pytest.raises(AblateError) as err:
        check_fits(plan, [node(2)])
    assert str(err.value).startswith("sweep.yaml: scaling.num_workers: a trial needs 64 workers")
    plan = make_plan(sweep(NECK_HEAD, {"max_concurrent": 1}))
    assert check_fits(plan, [node(8)]) == 1
    assert check_fits(plan, [node(8)], user_max=4) == 4  # --max-concurrent wins


# --- dry builds -----------------------------------------------------------------------------


def test_dry_build_lists_every_incompatible_combination() -> None:
    heads = [
        {"type": "LinearClsHead", "in_channels": 8},
        {"type": "StackedLinearClsHead", "in_channels": 8, "mid_channels": [8]},
    ]
    plan = make_plan(sweep({"model.neck": [GAP, FLAT], "model.head": heads}))
    builds = dry_build(plan)
    assert len(builds) == 4
    bad = [b for b in builds if b.error]
    assert [b.point["neck"] for b in bad] == ["Flatten", "Flatten"]
    assert all("incompatible shapes" in (b.error or "") for b in bad)
    assert all(b.params > 0 for b in builds if not b.error)


def test_dry_build_builds_each_model_once_and_checks_each_optimizer() -> None:
    search = {"model.neck": [GAP, FLAT], "optimizer.lr": [0.1, 0.01, -1.0]}
    builds = dry_build(make_plan(sweep(search)))
    models = [b for b in builds if b.error is None]
    assert [b.point for b in models] == [{"neck": "GlobalAveragePooling"}, {"neck": "Flatten"}]
    bad = [b for b in builds if b.error]
    assert len(bad) == 1 and "optimizer" in (bad[0].error or "")
    assert "Invalid learning rate: -1.0" in (bad[0].error or "")


def test_dry_build_checks_a_swapped_optimizer() -> None:
    search = {"optimizer.type": ["SGD", "Adam"]}  # Adam takes no momentum: a value dim keeps it
    bad = [b for b in dry_build(make_plan(sweep(search))) if b.error]
    assert len(bad) == 1 and "unknown argument 'momentum' for Adam" in (bad[0].error or "")
    search = {"optimizer": [{"type": "SGD"}, {"type": "Adam"}]}  # a component dim drops it
    assert not [b for b in dry_build(make_plan(sweep(search))) if b.error]


def test_check_metric_catches_a_metric_never_reported() -> None:
    plan = make_plan(sweep({"model.neck": [GAP, FLAT]}, {"metric": "val/rank1"}))
    problem = check_metric(plan, dry_build(plan))
    assert problem is not None
    assert "metric 'val/rank1' is never reported by any combination" in problem
    assert "(did you mean 'val/top1'?)" in problem
    plan = make_plan(sweep({"model.neck": [GAP, FLAT]}))
    assert check_metric(plan, dry_build(plan)) is None


def test_check_metric_names_the_combinations_that_miss_it() -> None:
    heads = [{"type": "LinearClsHead", "topk": [1, 5]}, {"type": "EmbeddingHead"}]
    plan = make_plan(sweep({"model.head": heads}, {"metric": "val/top5"}))
    problem = check_metric(plan, dry_build(plan))
    assert problem is not None and "1 of 2 combinations (e.g. head=EmbeddingHead)" in problem


CIFAR_MODEL = {"backbone": {**BASE["model"]["backbone"], "in_channels": 3}}


def test_missing_data_builds_on_a_synthetic_batch() -> None:
    data = {"dataset": {"type": "CIFAR10", "data_root": "/no/such/cifar10"}, "batch_size": 8}
    model = copy.deepcopy(BASE["model"]) | CIFAR_MODEL
    plan = make_plan(sweep({"model.neck": [GAP, FLAT]}, data=data, model=model))
    builds = dry_build(plan)
    assert all(b.error is None for b in builds)
    assert all(b.synthetic and "synthetic (3, 32, 32) batch" in b.synthetic for b in builds)


def test_a_dataset_typo_is_not_mistaken_for_missing_data() -> None:
    data = {"dataset": {"type": "CIFAR10", "data_rot": "/no/such"}, "batch_size": 8}
    model = copy.deepcopy(BASE["model"]) | CIFAR_MODEL
    builds = dry_build(make_plan(sweep({"model.neck": [GAP]}, data=data, model=model)))
    assert builds[0].error is not None
    assert "unknown argument 'data_rot' for CIFAR10" in builds[0].error


@pytest.mark.parametrize(
    "tune",
    [
        {"scheduler": "asha", "asha": {"grace_period": 2}},
        {"scheduler": {"type": "asha", "grace_period": 2}},
    ],
    ids=["asha-block", "dict-form"],
)
def test_both_forms_of_scheduler_options_build_the_same_scheduler(tune: dict[str, Any]) -> None:
    plan = make_plan(sweep(NECK_HEAD, tune))
    assert plan.scheduler.stops_early and plan.scheduler.grace_period == 2  # type: ignore[attr-defined]
    assert plan.scheduler.tune_scheduler(plan.epochs)._max_t == plan.epochs
    assert plan.scheduler.promote == "mean"  # type: ignore[attr-defined]


def test_a_cpu_plan_counts_this_machine_without_torch() -> None:
    """``ablate run`` of a CPU plan starts its Ray before torch is imported (1.2 to 1.5 s)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from ablate.plan.resources import local_nodes\n"
        "(node,) = local_nodes(gpus=False)\n"
        "assert node['CPU'] >= 1 and node['GPU'] == 0, node\n"
        "assert 'torch' not in sys.modules, 'counting CPUs imported torch'\n"
        "(node,) = local_nodes()\n"
        "assert 'torch' in sys.modules and node['GPU'] == float(__import__('torch').cuda.device_count())\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
