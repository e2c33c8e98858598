"""Search spaces as pure data: distributions, enumeration, baselines, resolution, cell ids.

No Ray, no training, no model builds: every test here runs in milliseconds.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

from ablate.config import Config
from ablate.errors import AblateError
from ablate.search.distributions import Distribution
from ablate.search.points import Point, cross, random_points, sample_point
from ablate.search.resolve import cell_id, resolve, swap_component
from ablate.search.space import Space, base_config, parse_point, parse_space
from ablate.search.strategies import STRATEGIES, Planning
from ablate.settings import TuneSettings

BASE: dict[str, Any] = {
    "model": {
        "type": "ImageClassifier",
        "backbone": {"type": "ResNet_CIFAR", "depth": 18, "in_channels": 1},
        "neck": {"type": "GlobalAveragePooling"},
        "head": {
            "type": "LinearClsHead",
            "num_classes": 10,
            "topk": [1],
            "loss": {"type": "CrossEntropyLoss", "label_smoothing": 0.1},
        },
    },
    "data": {"dataset": {"type": "Digits", "limit": 32}, "batch_size": 16},
    "optimizer": {
        "type": "SGD",
        "lr": 0.05,
        "momentum": 0.9,
        "weight_decay": 0.0005,
        "lr_schedule": {"type": "CosineAnnealingLR"},
    },
    "train": {"epochs": 1, "seed": 0},
}

GAP = {"type": "GlobalAveragePooling"}
GEM = {"type": "GeneralizedMeanPooling", "p": {"choice": [2.0, 3.0]}}
FLAT = {"type": "Flatten"}
LINEAR = {"type": "LinearClsHead"}
STACKED = {"type": "StackedLinearClsHead", "mid_channels": [32]}


def factorial(space: Space, num_samples: int, rng: np.random.Generator) -> list[Point]:
    """The factorial strategy's points, through its registry."""
    tune = TuneSettings(strategy="factorial", num_samples=num_samples)
    planning = Planning(Config({}, "s.yaml"), space, tune, None, [], rng)
    return STRATEGIES.get("factorial")().points(planning)


def one_at_a_time(
    space: Space, baseline: Point, num_samples: int, rng: np.random.Generator
) -> list[Point]:
    """The one_at_a_time strategy's points, through its registry."""
    tune = TuneSettings(strategy="one_at_a_time", num_samples=num_samples)
    planning = Planning(Config({}, "s.yaml"), space, tune, baseline, [], rng)
    return STRATEGIES.get("one_at_a_time")().points(planning)


def cfg_of(search: dict[str, Any], **extra: Any) -> Config:
    data = copy.deepcopy(BASE)
    data["search"] = search
    data.update(extra)
    return Config(data, "sweep.yaml")


def space_of(search: dict[str, Any]) -> Space:
    return parse_space(cfg_of(search))


def dist(raw: dict[str, Any]) -> Distribution:
    return Distribution.parse(raw, "search.x", Config({}, "sweep.yaml"))


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- distributions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"uniform": [1.0, 1.0]}, "low must be below high, got [1.0, 1.0]"),
        ({"uniform": [2, 1]}, "low must be below high"),
        ({"uniform": [0, float("inf")]}, "expected finite bounds"),
        ({"uniform": [0]}, "expected [low, high] numbers"),
        ({"uniform": [True, 2]}, "expected [low, high] numbers"),
        ({"uniform": "0, 1"}, "expected [low, high] numbers"),
        ({"loguniform": [0, 1]}, "loguniform needs low > 0, got 0"),
        ({"loguniform": [-1e-3, 1e-1]}, "loguniform needs low > 0"),
        ({"randint": [0.5, 3]}, "randint takes integers [low, high)"),
        ({"randint": [3, 3]}, "low must be below high"),
        ({"quniform": [0, 1, 0]}, "quniform needs 0 < q <= high - low, got q=0"),
        ({"quniform": [0, 1, -0.1]}, "quniform needs 0 < q"),
        ({"quniform": [0, 1, 2]}, "quniform needs 0 < q <= high - low, got q=2"),
        ({"quniform": [0, 1]}, "expected [low, high, q] numbers"),
        ({"choice": []}, "expected a non-empty list of values"),
        ({"grid": []}, "expected a non-empty list of values"),
        ({"choice": "ab"}, "expected a non-empty list of values"),
        ({"grid": [1, 2, 1]}, "1 appears twice in [1, 2, 1]"),
        ({"choice": [{"a": 1}, {"a": 1}]}, "appears twice"),
    ],
)
def test_distribution_bounds_are_checked_at_construction(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(AblateError) as err:
        dist(raw)
    assert err.value.key == f"search.x.{next(iter(raw))}"
    assert message in err.value.message


@pytest.mark.parametrize(
    "raw",
    [
        {"uniform": [-1.0, 2.5]},
        {"loguniform": [1e-5, 1e-1]},
        {"randint": [2, 5]},
        {"quniform": [0.1, 1.0, 0.25]},
        {"choice": ["a", "b", "c"]},
        {"grid": [1, 2]},
    ],
)
def test_samples_stay_within_bounds(raw: dict[str, Any]) -> None:
    d = dist(raw)
    r = rng(1)
    values = [d.sample(r) for _ in range(500)]
    assert all(d.contains(v) for v in values)
    if not d.discrete:
        lo, hi = d.args[0], d.args[1]
        assert all(lo <= v <= hi for v in values)


def test_loguniform_spreads_over_decades() -> None:
    d = dist({"loguniform": [1e-5, 1e-1]})
    r = rng(0)
    decades = {math.floor(math.log10(d.sample(r))) for _ in range(400)}
    assert decades == {-5, -4, -3, -2}


def test_randint_excludes_high() -> None:
    d = dist({"randint": [2, 5]})
    r = rng(0)
    assert {d.sample(r) for _ in range(300)} == {2, 3, 4}
    assert d.contains(4) and not d.contains(5)
    assert not d.contains(2.5) and not d.contains(True)


def test_quniform_lands_on_the_q_grid_from_low() -> None:
    d = dist({"quniform": [0.1, 1.0, 0.25]})
    r = rng(0)
    assert {d.sample(r) for _ in range(400)} == {0.1, 0.35, 0.6, 0.85}
    # low on the grid: high is reachable
    d = dist({"quniform": [0, 1, 0.25]})
    assert {d.sample(r) for _ in range(400)} == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert d.contains(0.75) and not d.contains(0.7) and not d.contains(1.25)


def test_choice_contains_is_type_strict_for_bools() -> None:
    d = dist({"choice": [0, 1]})
    assert d.contains(1) and not d.contains(True)
    assert dist({"choice": [True, False]}).contains(True)


# --- parsing ------------------------------------------------------------------------------


def test_labels_paths_and_conditional_dims() -> None:
    space = space_of({"model.neck": [GAP, GEM], "optimizer.lr": [0.1, 0.01], "seeds": [0, 1]})
    assert space.labels == ["neck", "neck.p", "optimizer.lr"]
    assert space.find("model.neck") is space.find("neck")
    p = space.find("neck.p")
    assert p is not None and p.path == "model.neck.p" and p.rel == "p"
    assert space.seeds == [0, 1]


def test_choice_of_components_is_a_component_dimension() -> None:
    space = space_of({"model.neck": {"choice": [GAP, FLAT]}})
    assert space.dims[0].is_component and space.dims[0].options() == [
        "GlobalAveragePooling",
        "Flatten",
    ]


def test_choices_of_one_type_are_labelled_by_the_arguments_they_differ_in() -> None:
    wide = {"type": "StackedLinearClsHead", "mid_channels": [64], "dropout_rate": 0.1}
    narrow = {"type": "StackedLinearClsHead", "mid_channels": [16], "dropout_rate": 0.1}
    plain = {"type": "StackedLinearClsHead", "dropout_rate": 0.1}
    named = {"type": "StackedLinearClsHead", "name": "mine", "norm": True}
    space = space_of({"model.head": [wide, narrow, plain, named, {"type": "LinearClsHead"}]})
    assert space.dims[0].options() == [
        "StackedLinearClsHead(mid_channels=[64])",
        "StackedLinearClsHead(mid_channels=[16])",
        "StackedLinearClsHead()",
        "mine",
        "LinearClsHead",
    ]
    flags = [{"type": "Digits", "shuffle": True}, {"type": "Digits", "shuffle": False}]
    assert space_of({"data.dataset": flags}).dims[0].options() == [
        "Digits(shuffle=true)",
        "Digits(shuffle=false)",
    ]


def test_choices_varying_the_same_argument_differently_get_their_own_labels() -> None:
    a = {"type": "StackedLinearClsHead", "dropout_rate": {"choice": [0.0, 0.1]}}
    b = {"type": "VisionTransformerClsHead", "name": "vit", "hidden_dim": {"choice": [8, 16]}}
    c = {
        "type": "StackedLinearClsHead",
        "name": "wide",
        "mid_channels": [64],
        "dropout_rate": {"choice": [0.0, 0.1]},
    }
    assert space_of({"model.head": [a, b, c]}).labels == [
        "head",
        "head.dropout_rate",
        "head.hidden_dim",
    ]
    c["dropout_rate"] = {"uniform": [0.0, 0.5]}
    assert space_of({"model.head": [a, b, c]}).labels == [
        "head",
        "head.StackedLinearClsHead.dropout_rate",
        "head.hidden_dim",
        "head.wide.dropout_rate",
    ]


@pytest.mark.parametrize(
    ("search", "key", "message"),
    [
        ({}, "search", "the search space is empty"),
        ({"seeds": [0, 1]}, "search", "the search space is empty"),
        ({"optimizer.lrr": [0.1]}, "search.optimizer.lrr", "(did you mean 'optimizer.lr'?)"),
        (
            {"model.neck.p": [2.0]},
            "search.model.neck.p",
            "GlobalAveragePooling takes no argument 'p'",
        ),
        ({"optimizer.lr.x": [1]}, "search.optimizer.lr.x", "unknown dimension"),
        ({"train.seed": [0, 1]}, "search.train.seed", "vary seeds with search.seeds"),
        ({"model.neck": [GAP], "seeds": 3}, "search.seeds", "seeds: [0, 1, 2] for 3"),
        ({"model.neck": [GAP], "seeds": [0, 0]}, "search.seeds", "duplicate seeds in [0, 0]"),
        ({"model.neck": [GAP], "seeds": ["a"]}, "search.seeds", "integer seeds"),
        ({"model.neck": [GAP], "seeds": []}, "search.seeds", "integer seeds"),
        (
            {"model.neck": [GAP, GAP]},
            "search.model.neck.1",
            "is the same component as choice 'GlobalAveragePooling'",
        ),
        (
            {"model.neck": [{**GAP, "name": "x"}, {**GEM, "name": "x"}]},
            "search.model.neck.1",
            "are both called 'x'",
        ),
        (
            {"model.neck": [GAP, {**GAP, "name": "gap2"}]},
            "search.model.neck.1",
            "the same component as choice 'GlobalAveragePooling'",
        ),
        (
            {"model.neck": [GAP, GEM], "model.neck.p": [1.0]},
            "search.model.neck.p",
            "dimension 'model.neck.p' lies inside dimension 'model.neck'",
        ),
        (
            {"optimizer.lr": {"logunifrom": [1e-3, 1]}},
            "search.optimizer.lr.logunifrom",
            "(did you mean 'loguniform'?)",
        ),
        ({"optimizer.lr": []}, "search.optimizer.lr", "expected a list of component choices"),
        (
            {"model.neck": [GAP, {"p": 1}]},
            "search.model.neck",
            "expected a list of component choices",
        ),
    ],
)
def test_parse_errors(search: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(AblateError) as err:
        space_of(search)
    assert err.value.key == key
    assert err.value.file == "sweep.yaml"
    assert message in str(err.value)


# --- factorial ----------------------------------------------------------------------------


def test_factorial_conditional_dim_multiplies_only_its_branch() -> None:
    space = space_of({"model.neck": [GAP, GEM, FLAT], "model.head": [LINEAR, STACKED]})
    points = factorial(space, 1, rng())
    assert len(points) == (1 + 2 + 1) * 2
    assert sum("neck.p" in p for p in points) == 4
    assert all(("neck.p" in p) == (p["neck"] == "GeneralizedMeanPooling") for p in points)
    points = factorial(space_of({"model.neck": [GAP, GEM], "optimizer.lr": [0.1, 0.01]}), 1, rng())
    assert len(points) == 3 * 2


def test_factorial_continuous_dims_give_shared_levels() -> None:
    space = space_of({"model.neck": [GAP, FLAT], "optimizer.lr": {"loguniform": [1e-4, 1e-1]}})
    points = factorial(space, 3, rng(7))
    assert len(points) == 2 * 3
    levels = {p["optimizer.lr"] for p in points}
    assert len(levels) == 3
    for lr in levels:  # every level meets every neck
        assert {p["neck"] for p in points if p["optimizer.lr"] == lr} == {
            "GlobalAveragePooling",
            "Flatten",
        }


def test_factorial_is_deterministic_given_the_seed() -> None:
    space = space_of({"model.neck": [GAP, GEM], "optimizer.lr": {"uniform": [0.01, 0.1]}})
    assert factorial(space, 2, rng(3)) == factorial(space, 2, rng(3))
    assert factorial(space, 2, rng(3)) != factorial(space, 2, rng(4))


# --- one_at_a_time --------------------------------------------------------------------------


def _oat_space() -> Space:
    return space_of({"model.neck": [GAP, GEM, FLAT], "model.head": [LINEAR, STACKED]})


def test_one_at_a_time_baseline_first_then_one_change_each() -> None:
    space = _oat_space()
    base = parse_point(
        space, {"neck": "GlobalAveragePooling", "head": "LinearClsHead"}, "b", cfg_of({})
    )
    points = one_at_a_time(space, base, 1, rng())
    assert points[0] == base
    assert len(points) == 1 + 2 + 1
    for p in points[1:]:
        changed = [k for k in ("neck", "head") if p[k] != base[k]]
        assert len(changed) == 1


def test_one_at_a_time_swapped_component_takes_first_conditional_value() -> None:
    space = _oat_space()
    base = parse_point(
        space, {"neck": "GlobalAveragePooling", "head": "LinearClsHead"}, "b", cfg_of({})
    )
    gem = [p for p in one_at_a_time(space, base, 1, rng()) if p["neck"] == "GeneralizedMeanPooling"]
    assert gem == [{"neck": "GeneralizedMeanPooling", "neck.p": 2.0, "head": "LinearClsHead"}]


def test_one_at_a_time_varies_the_baselines_own_conditional_dim() -> None:
    space = _oat_space()
    base = parse_point(
        space,
        {"model.neck": "GeneralizedMeanPooling", "neck.p": 3.0, "model.head": LINEAR},
        "b",
        cfg_of({}),
    )
    assert base == {"neck": "GeneralizedMeanPooling", "neck.p": 3.0, "head": "LinearClsHead"}
    points = one_at_a_time(space, base, 1, rng())
    assert len(points) == 1 + 2 + 1 + 1
    assert {"neck": "GeneralizedMeanPooling", "neck.p": 2.0, "head": "LinearClsHead"} in points
    assert {"neck": "Flatten", "head": "LinearClsHead"} in points  # neck.p leaves with GeM


def test_one_at_a_time_continuous_dim_varies_num_samples_times() -> None:
    space = space_of({"model.neck": [GAP, FLAT], "optimizer.lr": {"loguniform": [1e-3, 1e-1]}})
    base = parse_point(
        space, {"neck": "GlobalAveragePooling", "optimizer.lr": 0.01}, "b", cfg_of({})
    )
    points = one_at_a_time(space, base, 4, rng())
    assert len(points) == 1 + 1 + 4
    assert all(p["neck"] == "GlobalAveragePooling" for p in points[2:])


def test_baseline_by_label_or_path_is_the_same_point() -> None:
    space = _oat_space()
    by_label = parse_point(space, {"neck": "Flatten", "head": "LinearClsHead"}, "b", cfg_of({}))
    by_path = parse_point(
        space, {"model.neck": FLAT, "model.head": "LinearClsHead"}, "b", cfg_of({})
    )
    assert by_label == by_path == {"neck": "Flatten", "head": "LinearClsHead"}


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        (
            {"neck": "Flaten", "head": "LinearClsHead"},
            "tune.baseline.neck",
            "(did you mean 'Flatten'?)",
        ),
        (
            {"nek": "Flatten", "head": "LinearClsHead"},
            "tune.baseline.nek",
            "(did you mean 'neck'?)",
        ),
        ({"model.nek": "Flatten"}, "tune.baseline.model.nek", "(did you mean 'model.neck'?)"),
        ({"neck": "Flatten"}, "tune.baseline", "leaves out head"),
        (
            {"neck": "Flatten", "neck.p": 2.0, "head": "LinearClsHead"},
            "tune.baseline",
            "do not apply",
        ),
        (
            {"neck": "Flatten", "model.neck": "Flatten", "head": "LinearClsHead"},
            "tune.baseline.model.neck",
            "given twice",
        ),
        ([], "tune.baseline", "expected a mapping"),
    ],
)
def test_bad_baselines(raw: Any, key: str, message: str) -> None:
    with pytest.raises(AblateError) as err:
        parse_point(_oat_space(), raw, "tune.baseline", cfg_of({}))
    assert err.value.key == key
    assert message in str(err.value)


def test_baseline_continuous_value_must_be_in_bounds() -> None:
    space = space_of({"optimizer.lr": {"loguniform": [1e-3, 1e-1]}})
    with pytest.raises(
        AblateError,
        match=r"0.5 is not in the space of optimizer.lr; expected a number in \[0.001, 0.1\]",
    ):
        parse_point(space, {"optimizer.lr": 0.5}, "tune.baseline", cfg_of({}))


# --- random --------------------------------------------------------------------------------


def test_random_points_count_determinism_and_conditional_dims() -> None:
    space = space_of({"model.neck": [GAP, GEM, FLAT], "optimizer.lr": {"loguniform": [1e-4, 1e-1]}})
    points = random_points(space, 30, rng(5))
    assert len(points) == 30
    assert points == random_points(space, 30, rng(5))
    assert points != random_points(space, 30, rng(6))
    assert all(("neck.p" in p) == (p["neck"] == "GeneralizedMeanPooling") for p in points)
    assert {p["neck"] for p in points} == {
        "GlobalAveragePooling",
        "GeneralizedMeanPooling",
        "Flatten",
    }


def test_random_points_are_distinct_and_stop_at_the_space_size() -> None:
    space = space_of({"model.neck": [GAP, GEM], "model.head": [LINEAR, STACKED]})
    points = random_points(space, 10, rng())
    assert len(points) == len(cross(space.dims, {})) == 6
    kept = random_points(space, 10, rng(), keep=lambda p: p["head"] == "LinearClsHead")
    assert len(kept) == 3 and all(p["head"] == "LinearClsHead" for p in kept)


def test_sample_point_only_sets_active_dims() -> None:
    space = _oat_space()
    for seed in range(20):
        p = sample_point(space, rng(seed))
        assert set(p) == {d.label for d in space.active(p)}


# --- resolve --------------------------------------------------------------------------------


def _resolve(search: dict[str, Any], point: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    cfg = cfg_of(search)
    return resolve(base_config(cfg), parse_space(cfg), point, seed)


def test_resolve_swap_keeps_accepted_arguments_and_drops_the_rest() -> None:
    head = _resolve({"model.head": [LINEAR, {"type": "EmbeddingHead"}]}, {"head": "EmbeddingHead"})[
        "model"
    ]["head"]
    assert head == {"type": "EmbeddingHead", "loss": BASE["model"]["head"]["loss"]}
    head = _resolve({"model.head": [LINEAR, STACKED]}, {"head": "StackedLinearClsHead"})["model"][
        "head"
    ]
    assert head == {
        "type": "StackedLinearClsHead",
        "num_classes": 10,
        "topk": [1],
        "loss": {"type": "CrossEntropyLoss", "label_smoothing": 0.1},
        "mid_channels": [32],
    }


def test_resolve_swap_of_a_nested_component_drops_its_old_arguments() -> None:
    focal = {"type": "StackedLinearClsHead", "loss": {"type": "FocalLoss", "gamma": 1.0}}
    head = _resolve({"model.head": [LINEAR, focal]}, {"head": "StackedLinearClsHead"})["model"][
        "head"
    ]
    assert head["loss"] == {"type": "FocalLoss", "gamma": 1.0}  # no label_smoothing
    loss = _resolve(
        {"model.head.loss": [{"type": "CrossEntropyLoss"}, {"type": "FocalLoss"}]},
        {"head.loss": "FocalLoss"},
    )["model"]["head"]["loss"]
    assert loss == {"type": "FocalLoss"}


def test_resolve_same_type_choice_deep_merges() -> None:
    ls = {"type": "CrossEntropyLoss", "name": "ce_ls", "label_smoothing": 0.2}
    loss = _resolve(
        {"model.head.loss": [{"type": "CrossEntropyLoss"}, ls]}, {"head.loss": "ce_ls"}
    )["model"]["head"]["loss"]
    assert loss == {"type": "CrossEntropyLoss", "label_smoothing": 0.2}
    plain = _resolve(
        {"model.head.loss": [{"type": "CrossEntropyLoss"}, ls]}, {"head.loss": "CrossEntropyLoss"}
    )["model"]["head"]["loss"]
    assert plain == {"type": "CrossEntropyLoss", "label_smoothing": 0.1}  # the base's value


def test_resolve_delete_replaces_whole() -> None:
    fresh = {"type": "CrossEntropyLoss", "name": "fresh", "_delete_": True}
    loss = _resolve(
        {"model.head.loss": [{"type": "CrossEntropyLoss"}, fresh]}, {"head.loss": "fresh"}
    )["model"]["head"]["loss"]
    assert loss == {"type": "CrossEntropyLoss"}


def test_resolve_optimizer_swap_keeps_lr_and_schedule() -> None:
    opt = _resolve(
        {"optimizer": [{"type": "SGD"}, {"type": "AdamW", "lr": 0.001}]}, {"optimizer": "AdamW"}
    )["optimizer"]
    assert opt == {
        "type": "AdamW",
        "lr": 0.001,
        "weight_decay": 0.0005,
        "lr_schedule": {"type": "CosineAnnealingLR"},
    }


def test_resolve_sets_conditional_values_and_the_seed() -> None:
    out = _resolve(
        {"model.neck": [GAP, GEM], "optimizer.lr": [0.1, 0.01]},
        {"neck": "GeneralizedMeanPooling", "neck.p": 3.0, "optimizer.lr": 0.01},
        seed=4,
    )
    assert out["model"]["neck"] == {"type": "GeneralizedMeanPooling", "p": 3.0}
    assert out["optimizer"]["lr"] == 0.01
    assert out["train"]["seed"] == 4
    assert BASE["train"]["seed"] == 0  # the base is never mutated


def test_cell_id_ignores_the_seed_and_is_stable() -> None:
    search = {"model.neck": [GAP, GEM]}
    point = {"neck": "GeneralizedMeanPooling", "neck.p": 2.0}
    a, b = _resolve(search, point, seed=0), _resolve(search, point, seed=9)
    assert a != b and cell_id(a) == cell_id(b)
    reordered = dict(reversed(list(a.items())))
    assert cell_id(reordered) == cell_id(a)
    # A golden value: ids name MLflow runs across sweeps, so the hash must never drift.
    x = {"model": {"type": "X"}, "train": {"epochs": 1, "seed": 3}}
    assert cell_id(x) == cell_id({"model": {"type": "X"}, "train": {"epochs": 1}})
    assert cell_id(x) == "9e5ee2a295"


@pytest.mark.parametrize(
    "change",
    [
        ("model", "neck", "p", 3.0),
        ("optimizer", "lr", 0.1),
        ("data", "batch_size", 8),
        ("train", "epochs", 2),
    ],
)
def test_cell_id_changes_with_any_other_value(change: tuple[Any, ...]) -> None:
    a = _resolve({"model.neck": [GAP, GEM]}, {"neck": "GeneralizedMeanPooling", "neck.p": 2.0})
    b = copy.deepcopy(a)
    node = b
    for k in change[:-2]:
        node = node[k]
    node[change[-2]] = change[-1]
    assert cell_id(a) != cell_id(b)


def test_swap_component_without_a_base_is_the_choice() -> None:
    assert swap_component(None, {"type": "Flatten"}, "model.neck") == {"type": "Flatten"}
