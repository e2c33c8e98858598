"""What the training-loop tests share: a tiny model config on part of Digits."""

from __future__ import annotations

import copy
from typing import Any

from ablate.config import Config

#: A tiny model on part of Digits: a whole run takes well under a second.
TINY: dict[str, Any] = {
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
    "data": {"dataset": {"type": "Digits", "limit": 96}, "batch_size": 16},
    "optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9},
    "train": {"epochs": 2, "num_threads": 1, "max_batches": 3, "image_every": 0},
}


def tiny(model: dict[str, Any] | None = None, **train_over: Any) -> Config:
    """:data:`TINY` with ``model:`` parts replaced and ``train:`` overrides."""
    data = copy.deepcopy(TINY)
    data["model"].update(model or {})
    data["train"].update(train_over)
    return Config(data, "tiny.yaml")
