"""Generated images with a learnable class signal: for tests and for timing a setup."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from ablate import DATASETS, TensorItems


@DATASETS.register_module()
class SyntheticImages(TensorItems):
    """Each class has a fixed pattern; an item is its class's pattern plus Gaussian noise.

    The patterns are coarse (2x2 blocks upsampled), so both pooled and flattened features
    separate the classes, and a small model beats chance within an epoch or two. Both
    splits share the patterns (from ``seed``) and draw different noise.

    Args:
        split: ``train`` or ``val``.
        num_samples: Items in this split.
        num_classes: Classes, balanced.
        image_size: Side of the square images.
        channels: Image channels.
        noise: Standard deviation of the noise; the patterns have unit scale.
        seed: Seed of the patterns and of the noise.

    Items:
        ``{'inputs': (channels, image_size, image_size) float32, 'labels': int64}``.
    """

    def __init__(
        self,
        split: Literal["train", "val"],
        num_samples: int = 256,
        num_classes: int = 4,
        image_size: int = 8,
        channels: int = 1,
        noise: float = 1.0,
        seed: int = 0,
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        for name, value in (
            ("num_samples", num_samples),
            ("image_size", image_size),
            ("channels", channels),
        ):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        gen = torch.Generator().manual_seed(seed)
        coarse = torch.randn(num_classes, channels, 2, 2, generator=gen)
        patterns = F.interpolate(coarse, size=(image_size, image_size), mode="nearest")
        gen.manual_seed(seed * 2 + (1 if split == "train" else 2))
        labels = torch.arange(num_samples) % num_classes
        labels = labels[torch.randperm(num_samples, generator=gen)]
        shape = (num_samples, channels, image_size, image_size)
        self.inputs = patterns[labels] + noise * torch.randn(shape, generator=gen)
        self.labels = labels.to(torch.int64)
