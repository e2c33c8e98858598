"""OpenMMLab conventions (mmpretrain, mmcls, mmtracking), one table per convention.

Each case is a component written the way those projects write theirs (our code, their
conventions), registered the way their code registers it, and built or trained through
ablate's real build funnel. The convention numbers are issue 9's.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ablate import BACKBONES, HEADS, LOSSES, MODELS, NECKS, BaseModule
from ablate.config import Config, load_config
from ablate.errors import AblateError
from ablate.plan import make_plan
from ablate.registry import Registry, overrides
from ablate.train.build import build_datasets, build_model, sample_batch
from ablate.train.loop import metric_names, train

HERE = __name__  # the module our test classes live in, for unregistering

#: An ImageClassifier on 200 digits: the skeleton every case fills in.
BASE: dict[str, Any] = {
    "model": {
        "type": "ImageClassifier",
        "backbone": {
            "type": "ResNet_CIFAR",
            "in_channels": 1,
            "base_channels": 8,
            "num_stages": 2,
            "strides": [1, 2],
            "out_indices": [1],
        },
        "neck": {"type": "GlobalAveragePooling"},
        "head": {"type": "LinearClsHead", "num_classes": 10},
    },
    "data": {"dataset": {"type": "Digits", "limit": 200}, "batch_size": 50},
    "optimizer": {"type": "SGD", "lr": 0.05},
    "train": {"epochs": 1, "num_threads": 1},
}


def config(**sections: Any) -> Config:
    """``BASE`` with ``model.head=...`` style replacements (dotted keys)."""
    import copy

    data = copy.deepcopy(BASE)
    for dotted, value in sections.items():
        node = data
        *parents, last = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return Config(data, "compat.yaml")


def built(cfg: Config) -> Any:
    train_ds, _ = build_datasets(cfg)
    return build_model(cfg, sample_batch(train_ds, 8))


@pytest.fixture
def registered() -> Iterator[Callable[..., Any]]:
    """Register test classes for one test, then forget them (the built-ins come back)."""
    regs: list[Registry] = []

    def register(registry: Registry, cls: type, name: str | None = None) -> type:
        regs.append(registry)
        return registry.register_module(name=name, module=cls)

    yield register
    for registry in {id(r): r for r in [*regs, BACKBONES, NECKS, HEADS, LOSSES, MODELS]}.values():
        registry.unregister_package(HERE)


# --- 1. head losses are called positionally, whatever their parameter names ------------


class PretrainNames(nn.Module):
    """mmpretrain's CrossEntropyLoss parameter names."""

    def forward(
        self, cls_score, label, weight=None, avg_factor=None, reduction_override=None, **kwargs
    ):
        return F.cross_entropy(cls_score, label)


class HowToNames(nn.Module):
    """The mmpretrain how-to's L1Loss names."""

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        return F.cross_entropy(pred, target)


class TrackingNames(nn.Module):
    """mmtracking's triplet loss names."""

    def forward(self, inputs, targets):
        return F.cross_entropy(inputs, targets)


@pytest.mark.parametrize("loss_cls", [PretrainNames, HowToNames, TrackingNames])
def test_1_head_loss_slot_calls_positionally(
    loss_cls: type, registered: Callable[..., Any]
) -> None:
    registered(LOSSES, loss_cls, f"Compat{loss_cls.__name__}")
    cfg = config(
        model__head={
            "type": "LinearClsHead",
            "num_classes": 10,
            "loss": {"type": f"Compat{loss_cls.__name__}"},
        }
    )
    b = built(cfg)
    batch = sample_batch(build_datasets(cfg)[0], 8)
    b.model.eval()
    with torch.no_grad():
        out = b.model(batch)
        total, _ = b.losses(out["training_feat"])
    assert total.item() == pytest.approx(
        F.cross_entropy(out["inference_feat"]["logits"], batch["labels"]).item()
    )


def test_1_losses_list_keeps_keyword_calls(registered: Callable[..., Any]) -> None:
    """OpenGait-style ``losses:`` call by training_feat names: mmpretrain names do not fit."""
    registered(LOSSES, PretrainNames, "CompatPretrainNames")
    cfg = config(losses=[{"type": "CompatPretrainNames", "log_prefix": "cls"}])
    with pytest.raises(
        AblateError, match="missing 2 required positional arguments: 'cls_score' and 'label'"
    ):
        built(cfg)


# --- 2. a head may own its loss ---------------------------------------------------------


class OwnLossHead(BaseModule):
    """mmpretrain's ClsHead shape: builds ``loss_module``, offers ``loss`` and ``predict``."""

    def __init__(self, num_classes, in_channels, loss=None, returns="dict", init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.loss_module = MODELS.build(loss or dict(type="CrossEntropyLoss", loss_weight=1.0))
        self.fc = nn.Linear(in_channels, num_classes)
        self.returns = returns

    def forward(self, feats):
        return self.fc(feats[-1])

    def loss(self, feats, targets):
        score = self(feats)
        loss = self.loss_module(score, targets)
        if self.returns == "tensor":
            return loss
        if self.returns == "two":
            return {"loss_a": loss, "loss_b": 0.5 * loss, "accuracy_top-1": torch.tensor(50.0)}
        return {"loss": loss}

    def predict(self, feats):
        return F.softmax(self(feats), dim=1)


@pytest.mark.parametrize(
    ("returns", "logged"),
    [
        ("tensor", {"cls/loss"}),
        ("dict", {"cls/loss"}),
        ("two", {"cls/loss", "cls/loss_a", "cls/loss_b", "cls/accuracy_top-1"}),
    ],
)
def test_2_head_owns_its_loss(
    returns: str, logged: set[str], registered: Callable[..., Any]
) -> None:
    registered(MODELS, OwnLossHead, "CompatOwnLossHead")
    cfg = config(model__head={"type": "CompatOwnLossHead", "num_classes": 10, "returns": returns})
    b = built(cfg)
    assert set(b.logged) == logged
    metrics = train(cfg)
    assert {f"train/{k}" for k in logged} | {"val/top1"} <= set(metrics)
    assert math.isfinite(metrics["train/cls/loss"])
    if returns == "two":  # the sum of the entries named *loss*, accuracy left out
        assert metrics["train/cls/loss"] == pytest.approx(
            metrics["train/cls/loss_a"] * 1.5, rel=1e-4
        )


# --- 3. a user's class never silently loses to a built-in -------------------------------


def _marked(base: type) -> type:
    return type(base.__name__, (base,), {"__module__": HERE, "user_made": True})


@pytest.mark.parametrize(
    ("name", "registry", "slot"),
    [
        ("GlobalAveragePooling", MODELS, NECKS),
        ("GlobalAveragePooling", NECKS, NECKS),
        ("CrossEntropyLoss", MODELS, LOSSES),
        ("LinearClsHead", HEADS, HEADS),
        ("ResNet_CIFAR", BACKBONES, BACKBONES),
        ("ResNet", MODELS, BACKBONES),
    ],
)
def test_3_users_class_wins_and_is_listed(
    name: str, registry: Registry, slot: Registry, registered: Callable[..., Any]
) -> None:
    builtin = slot.get(name)
    mine = registered(registry, _marked(builtin))
    assert slot.get(name) is mine and MODELS.get(name) is mine
    assert f"{name}: {HERE} replaces {builtin.__module__}" in overrides()
    slot.unregister_package(HERE)
    registry.unregister_package(HERE)
    assert slot.get(name) is builtin and not [o for o in overrides() if o.startswith(f"{name}:")]


def test_3_forgetting_a_plugin_brings_the_builtin_back() -> None:
    """What the executed docs' teardown relies on: no later test sees the plugin's class."""
    from doc_project import forget_plugin

    builtin = BACKBONES.get("ResNet_CIFAR")
    mine = type("ResNet_CIFAR", (builtin,), {"__module__": "fake_mm_plugin.backbones"})
    BACKBONES.register_module(module=mine)
    assert BACKBONES.get("ResNet_CIFAR") is mine
    forget_plugin("fake_mm_plugin")
    assert BACKBONES.get("ResNet_CIFAR") is builtin


@pytest.mark.parametrize("builtin_first", [True, False])
def test_3_override_holds_in_either_import_order(builtin_first: bool) -> None:
    reg = Registry("thing")
    builtin = type("Pool", (), {"__module__": "ablate_components.fake"})
    user = type("Pool", (), {"__module__": "my_plugins.pool"})
    for cls in (builtin, user) if builtin_first else (user, builtin):
        reg.register_module(module=cls)
    assert reg._table["Pool"] is user


def test_3_two_user_classes_one_name_fail_naming_both() -> None:
    reg = Registry("thing")
    reg.register_module(module=type("Pool", (), {"__module__": "pkg_a.necks"}))
    with pytest.raises(
        AblateError, match=r"thing 'Pool' is already registered by pkg_a\.necks\.Pool"
    ):
        reg.register_module(module=type("Pool", (), {"__module__": "pkg_b.necks"}))


# --- 11. mmpretrain's argument vocabulary -------------------------------------------------


def backbone(**kwargs: Any) -> nn.Module:
    cfg = {
        "type": "ResNet",
        "in_channels": 1,
        "base_channels": 8,
        "num_stages": 2,
        "strides": [1, 2],
        "out_indices": [1],
        **kwargs,
    }
    return BACKBONES.build(cfg, key="model.backbone")


RESNET_OK: list[tuple[dict[str, Any], Callable[[nn.Module], bool]]] = [
    ({"style": "pytorch"}, lambda m: m.layer1[0].conv1.stride == (1, 1)),
    (
        {"depth": 50, "style": "caffe", "strides": [1, 2]},
        lambda m: m.layer2[0].conv1.stride == (2, 2),
    ),
    ({"depth": 50, "style": "pytorch"}, lambda m: m.layer2[0].conv2.stride == (2, 2)),
    ({"stem_channels": 12}, lambda m: m.conv1.out_channels == 12),
    ({"deep_stem": True}, lambda m: isinstance(m.stem, nn.Sequential) and len(m.stem) == 9),
    ({"avg_down": True}, lambda m: isinstance(m.layer2[0].downsample[0], nn.AvgPool2d)),
    ({"dilations": [1, 2]}, lambda m: m.layer2[0].conv1.dilation == (2, 2)),
    (
        {"frozen_stages": 1},
        lambda m: (
            not any(p.requires_grad for p in [*m.conv1.parameters(), *m.layer1.parameters()])
            and all(p.requires_grad for p in m.layer2.parameters())
        ),
    ),
    ({"norm_eval": True}, lambda m: not m.train().norm1.training),
    ({"norm_cfg": {"type": "GN", "num_groups": 2}}, lambda m: isinstance(m.norm1, nn.GroupNorm)),
    (
        {"norm_cfg": {"type": "BN", "requires_grad": False}},
        lambda m: not m.norm1.weight.requires_grad,
    ),
    ({"with_cp": True}, lambda m: m.layer1[0].with_cp),
    (
        {"depth": 101, "num_stages": 1, "strides": [1], "out_indices": [0]},
        lambda m: len(m.layer1) == 3,
    ),
]


@pytest.mark.parametrize(("kwargs", "check"), RESNET_OK, ids=[",".join(k) for k, _ in RESNET_OK])
def test_11_resnet_honours_mmpretrain_arguments(
    kwargs: dict[str, Any], check: Callable[[nn.Module], bool]
) -> None:
    model = backbone(**kwargs)
    assert check(model)
    out = model(torch.randn(2, 1, 8, 8))
    out[-1].sum().backward()  # trains: frozen and checkpointed parts included


RESNET_BAD = [
    ({"style": "tf"}, "model.backbone.style", "expected 'pytorch' | 'caffe'"),
    ({"drop_path_rate": 0.1}, "model.backbone.drop_path_rate", "drop_path_rate is not supported"),
    ({"norm_cfg": {"type": "SyncBN"}}, "model.backbone.norm_cfg", "norm_cfg type must be one of"),
    ({"conv_cfg": {"type": "DCN"}}, "model.backbone.conv_cfg", "conv_cfg type must be one of"),
    ({"expansion": 4}, "model.backbone.expansion", "expansion must be 1"),
    ({"frozen_stages": 5}, "model.backbone.frozen_stages", "frozen_stages must be -1 to 2"),
    ({"stlye": "pytorch"}, "model.backbone.stlye", "did you mean 'style'"),
]


@pytest.mark.parametrize(
    ("kwargs", "key", "message"), RESNET_BAD, ids=[next(iter(k)) for k, _, _ in RESNET_BAD]
)
def test_11_resnet_refuses_what_it_cannot_honour(
    kwargs: dict[str, Any], key: str, message: str
) -> None:
    with pytest.raises(AblateError) as err:
        backbone(**kwargs)
    assert err.value.key == key and message in err.value.message
    assert "\n" not in str(err.value)


class ForwardingHead(nn.Module):
    """mmpretrain's LinearClsHead shape: named arguments, the rest to ClsHead via **kwargs."""

    def __init__(self, num_classes, in_channels, **kwargs):
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)


class SwallowingHead(BaseModule):
    """The mmtracking how-to's shape: ``__init__(self, arg1, arg2, *args, **kwargs)``."""

    def __init__(self, arg1, arg2, *args, **kwargs):
        super().__init__()


class PassingHead(nn.Module):
    """**kwargs forwarded to something we cannot see into: anything goes."""

    def __init__(self, in_channels, **kwargs):
        super().__init__()
        self.fc = nn.Linear(in_channels, 2, **kwargs)


def _subclass_of_clshead() -> type:
    cls_head = HEADS.get("LinearClsHead").__mro__[1]  # ablate's ClsHead

    class PretrainHead(cls_head):  # type: ignore[misc, valid-type]
        def __init__(self, num_classes, in_channels, **kwargs):
            super().__init__(**kwargs)
            self.fc = nn.Linear(in_channels, num_classes)

    return PretrainHead


KWARGS_CASES = [
    (
        "forwards to ClsHead: typo",
        _subclass_of_clshead,
        {"num_classes": 2, "in_channels": 4, "topkk": 1},
        "unknown argument 'topkk' for H (did you mean 'topk'?)",
    ),
    (
        "forwards to ClsHead: fine",
        _subclass_of_clshead,
        {"num_classes": 2, "in_channels": 4, "topk": 1, "cal_acc": True},
        None,
    ),
    (
        "swallows: typo",
        lambda: SwallowingHead,
        {"arg1": 1, "arg2": 2, "agr3": 3},
        "unknown argument 'agr3' for H",
    ),
    ("passes elsewhere", lambda: PassingHead, {"in_channels": 4, "bias": False}, None),
]


@pytest.mark.parametrize(
    ("case", "make", "kwargs", "error"), KWARGS_CASES, ids=[c[0] for c in KWARGS_CASES]
)
def test_11_kwargs_do_not_swallow_typos(
    case: str,
    make: Callable[[], type],
    kwargs: dict[str, Any],
    error: str | None,
    registered: Callable[..., Any],
) -> None:
    registered(HEADS, make(), "H")
    if case.startswith("forwards"):  # `ablate components` shows what **kwargs reaches
        assert HEADS.describe("H").endswith("**kwargs: cal_acc, init_cfg, loss, topk)")
    if error is None:
        HEADS.build({"type": "H", **kwargs}, key="model.head")
        return
    with pytest.raises(AblateError) as err:
        HEADS.build({"type": "H", **kwargs}, key="model.head")
    assert error in err.value.message and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("head", "names", "absent"),
    [
        ({"topk": 1}, {"val/top1"}, {"val/top5"}),
        ({"topk": [1, 3]}, {"val/top1", "val/top3"}, {"val/top5"}),
        (
            {"cal_acc": True, "topk": 2},
            {"val/top2", "train/accuracy_top-2"},
            {"train/accuracy_top-1"},
        ),
    ],
)
def test_11_topk_and_cal_acc(head: dict[str, Any], names: set[str], absent: set[str]) -> None:
    b = built(config(model__head={"type": "LinearClsHead", "num_classes": 10, **head}))
    reported = metric_names(b)
    assert names <= reported and not absent & reported


# --- 12. Python configs, read as data ------------------------------------------------------

#: mmpretrain's configs/_base_/models/resnet18_cifar.py, in its own layout.
RESNET18_CIFAR_PY = """\
# model settings
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
"""


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(text))
    return path


PY_OK = [
    (
        "literals",
        "train = dict(epochs=2, seed=-1, num_threads=None)\n",
        {"train": {"epochs": 2, "seed": -1, "num_threads": None}},
    ),
    (
        "tuples are lists",
        "model = dict(out=(3, ), pair=(1, 2))\n",
        {"model": {"out": [3], "pair": [1, 2]}},
    ),
    (
        "braces and dotted keys",
        "search = {'model.neck': [dict(type='A')], 'seeds': [0]}\n",
        {"search": {"model.neck": [{"type": "A"}], "seeds": [0]}},
    ),
    (
        "names above are variables",
        "n = 10\nlr = 0.1 * 2\nmodel = dict(head=dict(num_classes=n))\noptimizer = dict(lr=lr)\n",
        {"model": {"head": {"num_classes": 10}}, "optimizer": {"lr": 0.2}},
    ),
    (
        "a top-level key read later stays a key",
        "train = dict(epochs=1)\ndescription = 'x'\nmodel = dict(t=train)\n",
        {"train": {"epochs": 1}, "description": "x", "model": {"t": {"epochs": 1}}},
    ),
    (
        "dict unpacking and a docstring",
        '"""doc"""\nbase = dict(a=1)\nmodel = dict(**base, b=2)\n',
        {"model": {"a": 1, "b": 2}},
    ),
    (
        "dict of a mapping",
        "base = dict(a=1, b=1)\nmodel = dict(base, b=2)\n",
        {"model": {"a": 1, "b": 2}},
    ),
]


@pytest.mark.parametrize(("case", "text", "expected"), PY_OK, ids=[c[0] for c in PY_OK])
def test_12_py_config_reads_as_data(
    case: str, text: str, expected: dict[str, Any], tmp_path: Path
) -> None:
    assert load_config(write(tmp_path, "c.py", text), run_imports=False).data == expected


PY_BAD = [
    ("an import", "import os\nmodel = dict()\n", "line 1: imports are not read"),
    ("a call", "model = dict(depth=int('18'))\n", "line 1: calling int(...) needs running"),
    (
        "a comprehension",
        "x = 1\nmodel = dict(ids=[i for i in range(3)])\n",
        "line 2: '[i for i in range(3)]' needs running",
    ),
    ("an unknown name", "model = dict(depth=depth)\n", "line 1: 'depth' is not assigned above"),
    ("a function", "def f():\n    pass\n", "line 1: 'def f():' needs running"),
    ("an attribute", "model = dict(x=_base_.model)\n", "line 1: '_base_.model' needs running"),
    ("a syntax error", "model = dict(\n", "invalid Python"),
    (
        "mmengine's other keys",
        "train_dataloader = dict(batch_size=8)\n",
        "unknown top-level key 'train_dataloader'",
    ),
]


@pytest.mark.parametrize(("case", "text", "message"), PY_BAD, ids=[c[0] for c in PY_BAD])
def test_12_py_config_needing_a_run_is_a_one_line_error(
    case: str, text: str, message: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "c.py", text)
    with pytest.raises(AblateError) as err:
        load_config(path, run_imports=False)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert err.value.file is not None and err.value.file.endswith("c.py")


@pytest.mark.parametrize("child", ["yaml", "override"])
def test_12_mmpretrain_resnet18_cifar_base_loads_and_trains(child: str, tmp_path: Path) -> None:
    write(tmp_path, "resnet18_cifar.py", RESNET18_CIFAR_PY)
    data = "data: {dataset: {type: Digits, limit: 100}, batch_size: 50}\ntrain: {epochs: 1, num_threads: 1}\n"
    if child == "yaml":
        path = write(
            tmp_path,
            "c.yaml",
            "_base_: resnet18_cifar.py\nmodel: {backbone: {in_channels: 1}}\n" + data,
        )
        cfg = load_config(path)
    else:
        path = write(tmp_path, "c.yaml", "_base_: resnet18_cifar.py\n" + data)
        cfg = load_config(path, ["model.backbone.in_channels=1"])
    assert cfg.data["model"]["backbone"]["out_indices"] == [3]
    assert cfg.file_of("model.backbone.style").endswith("resnet18_cifar.py")
    metrics = train(cfg)
    assert math.isfinite(metrics["train/cls/loss"]) and "val/top5" in metrics


def test_12_sweep_file_may_be_python(tmp_path: Path) -> None:
    write(tmp_path, "resnet18_cifar.py", RESNET18_CIFAR_PY)
    path = write(
        tmp_path,
        "sweep.py",
        """\
        _base_ = ['resnet18_cifar.py']
        name = 'py_sweep'
        data = dict(dataset=dict(type='Digits', limit=100))
        search = {'model.neck': [dict(type='GlobalAveragePooling'), dict(type='GeneralizedMeanPooling')], 'seeds': [0, 1]}
        tune = dict(strategy='factorial', metric='val/top1', mode='max')
        """,
    )
    plan = make_plan(load_config(path))
    assert plan.name == "py_sweep" and len(plan.trials) == 4


# --- 13. search dimensions can index lists ---------------------------------------------------


def test_13_dimension_indexes_a_list(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sweep.yaml",
        """\
        model:
          type: ImageClassifier
          backbone: {type: ResNet_CIFAR, in_channels: 1, base_channels: 8, num_stages: 2, strides: [1, 2], out_indices: [1]}
          neck: {type: GlobalAveragePooling}
          head: {type: LinearClsHead, num_classes: 10}
        losses:
          - {type: CrossEntropyLoss, log_prefix: cls, loss_term_weight: 1.0}
        data: {dataset: {type: Digits, limit: 100}}
        search:
          losses.0.loss_term_weight: [0.5, 2.0]
          losses.0.label_smoothing: {uniform: [0.0, 0.2]}
        tune: {strategy: factorial, num_samples: 1, metric: val/top1, mode: max}
        """,
    )
    plan = make_plan(load_config(path))
    weights = sorted(t.point["losses.0.loss_term_weight"] for t in plan.trials)
    assert weights == [0.5, 2.0]
    from ablate.search.resolve import resolve

    resolved = resolve(plan.base, plan.space, plan.trials[0].point, 0)
    assert resolved["losses"][0]["loss_term_weight"] in (0.5, 2.0)
    assert 0.0 <= resolved["losses"][0]["label_smoothing"] <= 0.2


@pytest.mark.parametrize(
    ("dim", "message"),
    [
        ("losses.3.loss_term_weight", "unknown dimension 'losses.3.loss_term_weight'"),
        ("losses.0.loss_term_wieght", "did you mean 'losses.0.loss_term_weight'"),
    ],
)
def test_13_bad_list_dimension_is_named(dim: str, message: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sweep.yaml",
        f"""\
        model: {{type: ImageClassifier, backbone: {{type: ResNet}}, head: {{type: LinearClsHead, num_classes: 10}}}}
        losses:
          - {{type: CrossEntropyLoss, log_prefix: cls, loss_term_weight: 1.0}}
        data: {{dataset: {{type: Digits}}}}
        search:
          {dim}: [0.5, 2.0]
        tune: {{metric: val/top1, mode: max}}
        """,
    )
    with pytest.raises(AblateError, match=message):
        make_plan(load_config(path))


@pytest.mark.parametrize(
    ("neck", "shape", "error"),
    [
        ({"type": "GlobalAveragePooling", "dim": 2}, (2, 4, 3, 3), None),
        ({"type": "GlobalAveragePooling", "dim": 1}, (2, 4, 5), None),
        (
            {"type": "GlobalAveragePooling", "dim": 2},
            (2, 4, 5),
            "GlobalAveragePooling(dim=2) expects",
        ),
        (
            {"type": "GlobalAveragePooling", "dim": 4},
            (2, 4, 5),
            "expected 1 | 2 | 3 | None",
        ),
    ],
)
def test_11_global_average_pooling_dim(
    neck: dict[str, Any], shape: tuple[int, ...], error: str | None
) -> None:
    if error is not None and error.startswith("expected"):
        with pytest.raises(AblateError, match=re.escape(error)):
            NECKS.build(neck, key="model.neck")
        return
    pool = NECKS.build(neck, key="model.neck")
    if error is None:
        assert pool((torch.randn(*shape),))[0].shape == shape[:2]
        return
    with pytest.raises(ValueError, match=re.escape(error)):
        pool((torch.randn(*shape),))


def test_scoped_type_names_get_a_close_match() -> None:
    """mmengine scopes (``mmpretrain.ImageClassifier``) do not exist here; the error says so."""
    with pytest.raises(AblateError, match=r"did you mean 'ImageClassifier'"):
        MODELS.build({"type": "mmpretrain.ImageClassifier"}, key="model")


LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
LABELS = torch.tensor([0, 2])
SOFT = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5]])
CW = torch.tensor([1.0, 2.0, 0.5])

CE_CASES = [
    ("plain", {}, LABELS, F.cross_entropy(LOGITS, LABELS)),
    (
        "class_weight",
        {"class_weight": [1.0, 2.0, 0.5]},
        LABELS,
        F.cross_entropy(LOGITS, LABELS, weight=CW, reduction="none").mean(),
    ),
    ("use_soft", {"use_soft": True}, SOFT, F.cross_entropy(LOGITS, SOFT)),
    (
        "use_sigmoid",
        {"use_sigmoid": True},
        LABELS,
        F.binary_cross_entropy_with_logits(LOGITS, F.one_hot(LABELS, 3).float()),
    ),
    (
        "use_sigmoid + pos_weight",
        {"use_sigmoid": True, "pos_weight": [1.0, 2.0, 0.5]},
        LABELS,
        F.binary_cross_entropy_with_logits(LOGITS, F.one_hot(LABELS, 3).float(), pos_weight=CW),
    ),
]


@pytest.mark.parametrize(
    ("case", "kwargs", "labels", "expected"), CE_CASES, ids=[c[0] for c in CE_CASES]
)
def test_11_cross_entropy_takes_mmpretrain_arguments(
    case: str, kwargs: dict[str, Any], labels: torch.Tensor, expected: torch.Tensor
) -> None:
    loss = LOSSES.build({"type": "CrossEntropyLoss", "loss_weight": 1.0, **kwargs}, key="loss")
    assert loss(LOGITS, labels).item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"use_sigmoid": True, "use_soft": True}, "use_sigmoid takes neither"),
        ({"pos_weight": [1.0]}, "pos_weight needs use_sigmoid=True"),
        ({"use_mask": True}, "unknown argument 'use_mask'"),
    ],
)
def test_11_cross_entropy_refuses_what_it_cannot_honour(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(AblateError, match=re.escape(message)):
        LOSSES.build({"type": "CrossEntropyLoss", **kwargs}, key="loss")
