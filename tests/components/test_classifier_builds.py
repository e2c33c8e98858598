"""ImageClassifier built through ``build_model`` from every backbone and several necks/heads,
with no ``in_channels`` anywhere: the dry forward on the sample batch must infer them."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from ablate import BACKBONES, AblateError
from ablate.config import Config
from ablate.train.build import build_model, sample_batch
from ablate.train.loop import train
from ablate_components.datasets.synthetic import SyntheticImages

VIT = {"type": "VisionTransformer", "img_size": 8, "in_channels": 1, "embed_dims": 8, "num_layers": 1, "num_heads": 2}  # fmt: skip

# Digits-shaped (1, 8, 8) backbones.
BACKBONES_8X8: dict[str, dict[str, Any]] = {
    "ConvNet": {"type": "ConvNet", "in_channels": 1, "widths": [4, 8]},
    "ResNet": {"type": "ResNet", "depth": 18, "in_channels": 1, "base_channels": 4, "num_stages": 2, "out_indices": [1]},
    "ResNet_CIFAR": {"type": "ResNet_CIFAR", "depth": 18, "in_channels": 1, "base_channels": 4, "num_stages": 2, "strides": [1, 2], "out_indices": [1]},
    "ViT-featmap-p2": {**VIT, "patch_size": 2, "out_type": "featmap"},
    "ViT-cls_token-p4": {**VIT, "patch_size": 4, "out_type": "cls_token"},
    "ViT-avg_featmap-p4": {**VIT, "patch_size": 4, "out_type": "avg_featmap"},
}  # fmt: skip

# (neck, head, what the head outputs, its width)
NECK_HEADS: dict[str, tuple[dict[str, Any] | None, dict[str, Any], str, int]] = {
    "gap-linear": ({"type": "GlobalAveragePooling"}, {"type": "LinearClsHead", "num_classes": 3}, "logits", 3),
    "gem-stacked": ({"type": "GeneralizedMeanPooling"}, {"type": "StackedLinearClsHead", "num_classes": 3, "mid_channels": 6}, "logits", 3),
    "flatten-vit": ({"type": "Flatten"}, {"type": "VisionTransformerClsHead", "num_classes": 3, "hidden_dim": 6}, "logits", 3),
    "gap-embedding": ({"type": "GlobalAveragePooling"}, {"type": "EmbeddingHead", "embed_dims": 4}, "embeddings", 4),
}  # fmt: skip


def _batch(n: int = 4) -> dict[str, Any]:
    return sample_batch(SyntheticImages("train", num_samples=n, num_classes=2), n=n)


def _config(backbone: dict[str, Any], neck: dict[str, Any] | None, head: dict[str, Any]) -> Config:
    model = {"type": "ImageClassifier", "backbone": backbone, "head": head}
    if neck is not None:
        model["neck"] = neck
    return Config(data={"model": model}, file="test.yaml")


# Backbones of (N, C) inputs, not images: their channel inference is tested with the
# Regressor (tests/components/test_task_models.py).
TABULAR = {"MLP"}


def test_every_builtin_backbone_is_covered() -> None:
    registered = {
        n for n, obj in BACKBONES.items() if obj.__module__.startswith("ablate_components.")
    }
    assert {b["type"] for b in BACKBONES_8X8.values()} == registered - TABULAR


@pytest.mark.parametrize("combo", sorted(NECK_HEADS))
@pytest.mark.parametrize("backbone", sorted(BACKBONES_8X8))
def test_channels_are_inferred(backbone: str, combo: str) -> None:
    neck, head, output, width = NECK_HEADS[combo]
    batch = _batch()
    built = build_model(_config(BACKBONES_8X8[backbone], neck, head), batch)
    assert built.inference == output
    assert built.shapes["cls"][output] == (4, width)
    feats = built.model.extract_feat(batch["inputs"])
    first_linear = next(m for m in built.model.head.modules() if isinstance(m, torch.nn.Linear))
    assert first_linear.in_features == feats[-1].shape[1]


def test_vit_cls_token_feeds_a_head_without_a_neck() -> None:
    head = {"type": "VisionTransformerClsHead", "num_classes": 3}
    built = build_model(
        _config({**VIT, "patch_size": 4, "out_type": "cls_token"}, None, head), _batch()
    )
    assert built.model.head.fc.in_features == 8


def test_vit_featmap_without_a_neck_names_both_components() -> None:
    head = {"type": "LinearClsHead", "num_classes": 3}
    with pytest.raises(
        AblateError, match=r"model\.backbone \(VisionTransformer\) outputs .*add a pooling neck"
    ):
        build_model(_config({**VIT, "patch_size": 2, "out_type": "featmap"}, None, head), _batch())


def test_vit_on_inputs_of_another_size_is_a_user_error() -> None:
    head = {"type": "LinearClsHead", "num_classes": 3}
    cfg = _config({**VIT, "img_size": 32, "patch_size": 4}, None, head)
    with pytest.raises(
        AblateError,
        match=r"img_size \[32, 32\] expects \(N, C, 32, 32\) inputs, got \(4, 1, 8, 8\)",
    ):
        build_model(cfg, _batch())


def _train(model: dict[str, Any], epochs: int = 3) -> dict[str, float]:
    data = {
        "model": model,
        "data": {"dataset": {"type": "SyntheticImages", "num_samples": 128, "num_classes": 4}, "batch_size": 32},
        "optimizer": {"type": "Adam", "lr": 0.01},
        "train": {"epochs": epochs, "seed": 0, "image_every": 0},
    }  # fmt: skip
    return train(Config(data=data, file="test.yaml"))


def test_synthetic_images_are_learnable() -> None:
    metrics = _train(
        {
            "type": "ImageClassifier",
            "backbone": {"type": "ConvNet", "in_channels": 1, "widths": [8, 16]},
            "neck": {"type": "Flatten"},
            "head": {"type": "LinearClsHead", "num_classes": 4},
        }
    )
    assert metrics["val/top1"] > 60.0  # chance is 25


def test_embedding_head_trains_with_triplet_loss() -> None:
    metrics = _train(
        {
            "type": "ImageClassifier",
            "backbone": {"type": "ConvNet", "in_channels": 1, "widths": [8, 16]},
            "neck": {"type": "Flatten"},
            "head": {"type": "EmbeddingHead", "embed_dims": 16},
        }
    )
    assert "train/cls/hard_neg" in metrics and "train/cls/active" in metrics
    assert metrics["val/rank1"] > 60.0
