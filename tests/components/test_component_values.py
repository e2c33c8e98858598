"""Bad constructor values of the built-in components are user errors naming the config path."""

from __future__ import annotations

from typing import Any

import pytest

from ablate import BACKBONES, HEADS, AblateError, Registry

VIT = {"type": "VisionTransformer", "img_size": 8, "patch_size": 2, "embed_dims": 8, "num_heads": 2, "num_layers": 1}  # fmt: skip

CASES: list[tuple[Registry, str, dict[str, Any], str]] = [
    (BACKBONES, "model.backbone", {**VIT, "num_heads": 3}, "embed_dims 8 must divide by num_heads 3"),
    (BACKBONES, "model.backbone", {**VIT, "patch_size": 3}, r"img_size \[8, 8\] must divide by patch_size 3"),
    (BACKBONES, "model.backbone", {**VIT, "img_size": [8, 8, 8]}, r"img_size must be an int or \[H, W\]"),
    (BACKBONES, "model.backbone", {**VIT, "with_cls_token": False}, "out_type 'cls_token' needs with_cls_token: true"),
    (BACKBONES, "model.backbone", {**VIT, "out_type": "tokens"}, r"expected ('\w+' \| )+'\w+' for"),
    (BACKBONES, "model.backbone", {**VIT, "out_indices": [1]}, r"out_indices \[1\] out of range for 1 layers"),
    (BACKBONES, "model.backbone", {**VIT, "drop_path_rate": 1.0}, r"drop_path_rate must be in \[0, 1\)"),
    (BACKBONES, "model.backbone", {"type": "ConvNet", "widths": [4, 8], "strides": [1]}, "strides needs 2 positive entries"),
    (BACKBONES, "model.backbone", {"type": "ConvNet", "widths": []}, "widths must be a non-empty list"),
    (BACKBONES, "model.backbone", {"type": "ConvNet", "act": "elu"}, "expected 'relu' | 'gelu' | 'silu' | 'tanh'"),
    (HEADS, "model.head", {"type": "StackedLinearClsHead", "num_classes": 3, "in_channels": 4, "mid_channels": []}, "use LinearClsHead"),
    (HEADS, "model.head", {"type": "StackedLinearClsHead", "num_classes": 3, "in_channels": 4, "dropout_rate": 1.0}, r"dropout_rate must be in \[0, 1\)"),
    (HEADS, "model.head", {"type": "StackedLinearClsHead", "num_classes": 3, "in_channels": 4, "mid_channels": 2.5}, "expected Sequence"),
    (HEADS, "model.head", {"type": "VisionTransformerClsHead", "num_classes": 3, "in_channels": 4, "hidden_dim": 0}, "hidden_dim must be positive"),
    (HEADS, "model.head", {"type": "EmbeddingHead", "in_channels": 4, "embed_dims": 0}, "embed_dims must be positive"),
    (HEADS, "model.head", {"type": "EmbeddingHead"}, "in_channels is required"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("registry", "key", "cfg", "message"),
    CASES,
    ids=[f"{c[2]['type']}-{i}" for i, c in enumerate(CASES)],
)
def test_bad_value_is_a_user_error(
    registry: Registry, key: str, cfg: dict[str, Any], message: str
) -> None:
    with pytest.raises(AblateError, match=message) as info:
        registry.build(cfg, key=key)
    assert info.value.key is not None and info.value.key.startswith(key)
