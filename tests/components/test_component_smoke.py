"""Forward/backward smoke tests over the registries' contents (timm's habit).

Every built-in component needs an entry in the ``*_CASES`` tables below: a new component
without one fails ``test_every_builtin_has_a_smoke_case``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from data_files import write_cifar, write_npz
from torch import Tensor, nn

from ablate import BACKBONES, DATASETS, HEADS, LOSSES, MODELS, NECKS, SAMPLERS, Registry
from ablate.config import Config
from ablate.train.build import build_model, sample_batch

# name -> [(config without 'type', input shape (C, H, W), or (C,) for tabular inputs)]
BACKBONE_CASES: dict[str, list[tuple[dict[str, Any], tuple[int, ...]]]] = {
    "ConvNet": [
        ({"in_channels": 1, "widths": [4, 8], "out_indices": [0, -1]}, (1, 8, 8)),
        (
            {"in_channels": 3, "widths": [4, 4, 8], "convs_per_stage": 2, "norm": False, "act": "gelu"},
            (3, 32, 32),
        ),
    ],
    "MLP": [
        ({"in_channels": 10, "widths": [8, 6], "norm": True, "dropout": 0.1, "act": "gelu", "out_indices": [0, -1]}, (10,)),
    ],
    "ResNet": [
        ({"depth": 18, "in_channels": 1, "base_channels": 4, "num_stages": 2, "out_indices": [0, 1]}, (1, 8, 8)),
        ({"depth": 50, "in_channels": 3, "base_channels": 2, "num_stages": 1, "out_indices": [0]}, (3, 16, 16)),
    ],
    "ResNet_CIFAR": [
        (
            {"depth": 18, "in_channels": 3, "base_channels": 4, "num_stages": 2, "strides": [1, 2], "out_indices": [1]},
            (3, 16, 16),
        ),
    ],
    "VisionTransformer": [
        # Digits-shaped, patches of 2: a 4x4 grid.
        (
            {"img_size": 8, "patch_size": 2, "in_channels": 1, "embed_dims": 8, "num_layers": 2, "num_heads": 2, "out_type": "featmap", "out_indices": [0, -1]},
            (1, 8, 8),
        ),
        (
            {"img_size": 8, "patch_size": 4, "in_channels": 1, "embed_dims": 8, "num_layers": 1, "num_heads": 2, "out_type": "cls_token"},
            (1, 8, 8),
        ),
        # CIFAR-shaped, with every regulariser on.
        (
            {
                "img_size": 32, "patch_size": 4, "in_channels": 3, "embed_dims": 8, "num_layers": 2,
                "num_heads": 2, "out_type": "avg_featmap", "drop_rate": 0.1, "attn_drop_rate": 0.1,
                "drop_path_rate": 0.2, "qkv_bias": False, "final_norm": False,
            },
            (3, 32, 32),
        ),
        (
            {"img_size": [8, 4], "patch_size": 4, "in_channels": 1, "embed_dims": 8, "num_layers": 1, "num_heads": 1, "out_type": "featmap", "with_cls_token": False},
            (1, 8, 4),
        ),
    ],
}  # fmt: skip

NECK_CASES: dict[str, dict[str, Any]] = {
    "GlobalAveragePooling": {},
    "GeneralizedMeanPooling": {"p": 3.0, "learnable": True},
    "Flatten": {},
}

# name -> config without 'type' and 'in_channels' (always 8 here)
HEAD_CASES: dict[str, dict[str, Any]] = {
    "LinearClsHead": {"num_classes": 3},
    "StackedLinearClsHead": {"num_classes": 3, "mid_channels": [6, 5], "dropout_rate": 0.1, "act": "silu", "norm": "layer"},
    "VisionTransformerClsHead": {"num_classes": 3, "hidden_dim": 6},
    "EmbeddingHead": {"embed_dims": 5},
    "RegressionHead": {"out_dims": 1},
    "DenseBoxHead": {"feat_channels": 6, "stacked_convs": 2},
    "BNNeckHead": {"num_classes": 3, "embed_dims": 5},
}  # fmt: skip


def _box_head_output(head: nn.Module) -> Tensor:
    """A dense box head on a 4x4 map: scores and non-negative distances per cell."""
    cls_score, distances = head((torch.randn(2, 8, 4, 4),))
    assert cls_score.shape == (2, 2, 4, 4) and distances.shape == (2, 4, 4, 4)
    assert (distances >= 0).all()
    boxes = head.decode(distances)
    assert boxes.shape == (2, 16, 4) and (boxes[..., 2:] >= boxes[..., :2]).all()
    return cls_score.mean() + distances.mean()


def _bnneck_output(head: nn.Module) -> Tensor:
    embeddings, logits = head((torch.randn(4, 8),))
    assert embeddings.shape == (4, 5) and logits.shape == (4, 3)
    cfg = {k: v for k, v in head.loss_cfgs["softmax"].items() if k != "loss_term_weight"}
    loss = LOSSES.build(cfg, key="model.head.loss_softmax")
    return loss(logits, torch.tensor([0, 1, 2, 1])) + embeddings.pow(2).mean()


def _regression_output(head: nn.Module) -> Tensor:
    preds = head((torch.randn(4, 8),))
    assert preds.shape == (4,)
    loss = LOSSES.build(head.loss_cfg, key="model.head.loss")
    return loss(pred=preds, target=torch.randn(4))


# Heads whose output is not one (N, width) tensor for their default loss: name -> run the
# head, check its output, return a scalar to backpropagate.
HEAD_CHECKS: dict[str, Callable[[nn.Module], Tensor]] = {
    "DenseBoxHead": _box_head_output,
    "BNNeckHead": _bnneck_output,
    "RegressionHead": _regression_output,
}


def _logits_inputs() -> dict[str, Tensor]:
    return {"logits": torch.randn(4, 3, requires_grad=True), "labels": torch.tensor([0, 2, 1, 2])}


def _box_inputs() -> dict[str, Tensor]:
    pred = torch.tensor([[0.1, 0.1, 0.5, 0.6], [0.2, 0.3, 0.9, 0.8]], requires_grad=True)
    return {"pred": pred, "target": torch.tensor([[0.2, 0.1, 0.6, 0.5], [0.1, 0.2, 0.7, 0.9]])}


# name -> (config without 'type', make the keyword tensors of one training_feat entry)
LOSS_CASES: dict[str, tuple[dict[str, Any], Callable[[], dict[str, Tensor]]]] = {
    "CrossEntropyLoss": ({"label_smoothing": 0.1}, _logits_inputs),
    "FocalLoss": ({"gamma": 2.0, "alpha": 0.25}, _logits_inputs),
    "L1Loss": ({"loss_weight": 0.5}, lambda: {"pred": torch.randn(4, 2, requires_grad=True), "target": torch.randn(4, 2)}),
    "IoULoss": ({"mode": "log"}, lambda: _box_inputs()),
    "GIoULoss": ({"loss_weight": 2.0}, lambda: _box_inputs()),
    "MSELoss": ({}, lambda: {"pred": torch.randn(4, requires_grad=True), "target": torch.randn(4)}),
    "SmoothL1Loss": ({"beta": 0.5}, lambda: {"pred": torch.randn(4, 2, requires_grad=True), "target": torch.randn(4, 2)}),
    "TripletLoss": (
        {"margin": 10.0},  # every anchor active, so every embedding gets a gradient
        lambda: {"embeddings": torch.randn(6, 4, requires_grad=True), "labels": torch.tensor([0, 0, 1, 1, 2, 2])},
    ),
}  # fmt: skip


# name -> make the config (without 'type') given a scratch folder
DATASET_CASES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "CIFAR10": lambda tmp: {"data_root": str(write_cifar(tmp / "cifar")), "augment": True},
    "ClutteredTarget": lambda tmp: {"num_train": 4, "num_val": 3, "num_test": 2, "image_size": 12},
    "Diabetes": lambda tmp: {"val_fraction": 0.1, "test_fraction": 0.1},
    "DigitIdentities": lambda tmp: {"train_identities": [0, 1, 2, 3]},
    "Digits": lambda tmp: {"limit": 5},
    "NpzDataset": lambda tmp: {"path": str(write_npz(tmp / "d.npz"))},
    "SyntheticImages": lambda tmp: {
        "num_samples": 6,
        "num_classes": 3,
        "image_size": 4,
        "channels": 2,
    },
}


def _batch(dataset: str, **cfg: Any) -> Callable[[], dict[str, Any]]:
    """Eight collated training items of a built-in dataset."""
    return lambda: sample_batch(DATASETS.build({"type": dataset, **cfg}, split="train"), n=8)


# name -> (model config, make a batch it trains on, evaluation.metrics or None for the default)
MODEL_CASES: dict[str, tuple[dict[str, Any], Callable[[], dict[str, Any]], list[dict[str, Any]] | None]] = {
    "ImageClassifier": (
        {
            "type": "ImageClassifier",
            "backbone": {"type": "ConvNet", "in_channels": 1, "widths": [4, 8]},
            "neck": {"type": "GlobalAveragePooling"},
            "head": {"type": "LinearClsHead", "num_classes": 4},
        },
        _batch("SyntheticImages", num_samples=8, num_classes=4),
        None,
    ),
    "SingleObjectLocalizer": (
        {
            "type": "SingleObjectLocalizer",
            "backbone": {"type": "ConvNet", "in_channels": 1, "widths": [4, 8], "strides": [2, 2]},
            "head": {"type": "DenseBoxHead", "feat_channels": 4, "loss_cls": {"type": "FocalLoss"}, "loss_bbox": {"type": "GIoULoss"}},
        },
        _batch("ClutteredTarget", num_train=8, image_size=16),
        [{"type": "SuccessAUC"}, {"type": "BoxIoU"}],
    ),
    "Regressor": (
        {
            "type": "Regressor",
            "backbone": {"type": "MLP", "in_channels": 10, "widths": [6, 6]},
            "head": {"type": "RegressionHead", "loss": {"type": "SmoothL1Loss"}},
        },
        _batch("Diabetes"),
        [{"type": "MSE"}, {"type": "R2"}],
    ),
    "RetrievalNet": (
        {
            "type": "RetrievalNet",
            "backbone": {"type": "ConvNet", "in_channels": 1, "widths": [4, 8]},
            "neck": {"type": "GlobalAveragePooling"},
            # A large margin keeps every anchor active, so every weight gets a gradient.
            "head": {"type": "BNNeckHead", "num_classes": 6, "embed_dims": 4, "loss_triplet": {"type": "TripletLoss", "margin": 10.0}},
        },
        _batch("DigitIdentities"),
        [{"type": "Retrieval", "probe_key": "is_probe"}],
    ),
}  # fmt: skip

# name -> (config without 'type', dataset labels, world size): each rank's batches
SAMPLER_CASES: dict[str, tuple[dict[str, Any], list[int], int]] = {
    "TripletSampler": (
        {"batch_size": [2, 2], "batch_shuffle": True},
        [0, 0, 1, 1, 2, 2, 2, 3, 3],
        2,
    ),
}

ALL_CASES: dict[str, tuple[Registry, dict[str, Any]]] = {
    "backbones": (BACKBONES, BACKBONE_CASES),
    "necks": (NECKS, NECK_CASES),
    "heads": (HEADS, HEAD_CASES),
    "losses": (LOSSES, LOSS_CASES),
    "datasets": (DATASETS, DATASET_CASES),
    "models": (MODELS, MODEL_CASES),
    "samplers": (SAMPLERS, SAMPLER_CASES),
}


def builtins(registry: Registry) -> list[str]:
    """Names registered by the built-in ``ablate_components`` package (tests may register their own)."""
    return [n for n, obj in registry.items() if obj.__module__.startswith("ablate_components.")]


def _case(table: dict[str, Any], name: str) -> Any:
    if name not in table:
        pytest.fail(f"built-in '{name}' has no smoke case; add one to {__name__}")
    return table[name]


def _assert_grads(module: nn.Module) -> None:
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    assert params, "no trainable parameters"
    missing = [n for n, p in params if p.grad is None]
    assert not missing, f"no gradient reached {missing}"
    assert all(torch.isfinite(p.grad).all() for _, p in params)
    assert any(p.grad.abs().sum() > 0 for _, p in params)


@pytest.mark.parametrize("kind", sorted(ALL_CASES))
def test_every_builtin_has_a_smoke_case(kind: str) -> None:
    registry, table = ALL_CASES[kind]
    assert sorted(builtins(registry)) == sorted(table), (
        f"{kind}: registered built-ins and smoke cases differ"
    )


@pytest.mark.parametrize("name", builtins(BACKBONES))
def test_backbone_forward_backward(name: str) -> None:
    for cfg, shape in _case(BACKBONE_CASES, name):
        model = BACKBONES.build({"type": name, **cfg}, key="model.backbone")
        model.train()
        outs = model(torch.randn(2, *shape))
        assert isinstance(outs, tuple)
        indices = cfg.get("out_indices", model.out_indices)
        assert len(outs) == len(indices)
        for out, i in zip(outs, model.out_indices):
            assert out.dim() in (2, 4) and out.shape[0] == 2
            assert out.shape[1] == model.out_channels[i]
        sum(o.mean() for o in outs).backward()
        _assert_grads(model)


def test_vision_transformer_output_shapes() -> None:
    """featmap is a map the pooling necks take; cls_token and avg_featmap are (N, C)."""
    base = {"type": "VisionTransformer", "img_size": 8, "in_channels": 1, "embed_dims": 8, "num_layers": 1, "num_heads": 2}  # fmt: skip
    x = torch.randn(3, 1, 8, 8)
    for patch, grid in ((2, 4), (4, 2)):
        (fm,) = BACKBONES.build({**base, "patch_size": patch, "out_type": "featmap"})(x)
        assert fm.shape == (3, 8, grid, grid)
        for out_type in ("cls_token", "avg_featmap"):
            (vec,) = BACKBONES.build({**base, "patch_size": patch, "out_type": out_type})(x)
            assert vec.shape == (3, 8)
    cifar = {**base, "img_size": 32, "in_channels": 3, "patch_size": 4, "out_type": "featmap"}
    (fm,) = BACKBONES.build(cifar)(torch.randn(2, 3, 32, 32))
    assert fm.shape == (2, 8, 8, 8)


@pytest.mark.parametrize("name", builtins(NECKS))
def test_neck_forward_backward(name: str) -> None:
    neck = NECKS.build({"type": name, **_case(NECK_CASES, name)}, key="model.neck")
    maps = (torch.rand(2, 4, 3, 3) + 0.1).requires_grad_()
    (out,) = neck((maps,))
    assert out.dim() == 2 and out.shape[0] == 2
    out.sum().backward()
    assert maps.grad is not None and maps.grad.abs().sum() > 0
    if list(neck.parameters()):
        _assert_grads(neck)
    vec = torch.randn(2, 4)  # a ViT's cls_token passes through every neck
    assert torch.equal(neck((vec,))[0], vec)


@pytest.mark.parametrize("name", builtins(HEADS))
def test_head_forward_backward_with_its_default_loss(name: str) -> None:
    cfg = _case(HEAD_CASES, name)
    head = HEADS.build({"type": name, "in_channels": 8, **cfg}, key="model.head")
    head.train()
    if name in HEAD_CHECKS:
        HEAD_CHECKS[name](head).backward()
        _assert_grads(head)
        return
    feats = (torch.randn(4, 8, requires_grad=True),)
    out = head(feats)
    width = cfg.get("num_classes", cfg.get("embed_dims"))
    assert out.shape == (4, width)
    assert head.pre_logits(feats).dim() == 2
    loss_fn = LOSSES.build(head.loss_cfg, key="model.head.loss")
    kind = getattr(head, "output", "logits")
    loss = loss_fn(**{kind: out, "labels": torch.tensor([0, 0, 1, 1])})
    loss = loss[0] if isinstance(loss, tuple) else loss
    loss.backward()
    _assert_grads(head)


@pytest.mark.parametrize("name", builtins(LOSSES))
def test_loss_forward_backward(name: str) -> None:
    cfg, make_inputs = _case(LOSS_CASES, name)
    loss_fn = LOSSES.build({"type": name, **cfg}, key="losses.0")
    inputs = make_inputs()
    out = loss_fn(**inputs)
    loss, info = out if isinstance(out, tuple) else (out, {})
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert all(float(v) == float(v) for v in info.values())  # scalars, no NaN
    loss.backward()
    leaves = [t for t in inputs.values() if t.requires_grad]
    assert leaves and all(t.grad is not None and t.grad.abs().sum() > 0 for t in leaves)


@pytest.mark.parametrize("name", builtins(DATASETS))
def test_dataset_builds_both_splits(name: str, tmp_path: Path) -> None:
    cfg = {"type": name, **_case(DATASET_CASES, name)(tmp_path)}
    shapes = set()
    for split in ("train", "val"):
        ds = DATASETS.build(cfg, key="data.dataset", split=split)
        assert len(ds) > 0
        for i in (0, len(ds) - 1):
            item = ds[i]
            assert {"inputs", "labels"} <= set(item)
            assert all(
                (isinstance(v, Tensor) and v.dim() <= 1) or k == "inputs" for k, v in item.items()
            )
            assert item["inputs"].dtype == torch.float32 and item["inputs"].dim() >= 1
            assert item["labels"].dtype == torch.int64 and item["labels"].dim() == 0
            shapes.add(tuple(item["inputs"].shape))
        batch = sample_batch(ds)
        assert batch["labels"].dtype == torch.int64
    assert len(shapes) == 1, f"train and val items differ in shape: {shapes}"


@pytest.mark.parametrize("name", builtins(MODELS))
def test_model_forward_backward(name: str) -> None:
    model_cfg, make_batch, metrics = _case(MODEL_CASES, name)
    evaluation = {} if metrics is None else {"evaluation": {"metrics": metrics}}
    cfg = Config(data={"model": model_cfg, **evaluation}, file="smoke.yaml")
    batch = make_batch()
    built = build_model(cfg, batch)
    built.model.train()
    out = built.model(batch)
    loss, info = built.losses(out["training_feat"])
    assert np.isfinite(float(loss.detach()))
    assert {f"{p}/loss" for p in built.losses.prefixes} <= set(info)
    loss.backward()
    _assert_grads(built.model)


class _Labelled(torch.utils.data.Dataset):
    def __init__(self, labels: list[int]) -> None:
        self.labels = torch.tensor(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"inputs": torch.zeros(1), "labels": self.labels[i]}


@pytest.mark.parametrize("name", builtins(SAMPLERS))
def test_sampler_yields_disjoint_rank_batches(name: str) -> None:
    args, labels, world = _case(SAMPLER_CASES, name)
    data = _Labelled(labels)
    ranks = [
        SAMPLERS.build({"type": name, **args}, dataset=data, rank=r, world_size=world, seed=1)
        for r in range(world)
    ]
    for s in ranks:
        s.set_epoch(3)
    per_rank = [list(s) for s in ranks]
    assert all(len(batches) == len(ranks[0]) > 0 for batches in per_rank)
    for batches in zip(*per_rank):
        flat = [i for b in batches for i in b]
        assert len(flat) == len(set(flat))  # the ranks' shares are disjoint
        assert all(0 <= i < len(data) for i in flat)
