"""Single-object localisation on generated images: one target frame among filled clutter."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ablate import DATASETS, TensorItems

SPLITS = ("train", "val", "test")


def _box(gen: torch.Generator, size: int, lo: float, hi: float) -> tuple[int, int, int, int]:
    """A random axis-aligned box (x1, y1, x2, y2) in pixels, each side in [lo, hi] * size."""
    w, h = (int(size * (lo + (hi - lo) * float(torch.rand((), generator=gen)))) for _ in "wh")
    w, h = max(w, 3), max(h, 3)
    x1 = int(torch.randint(0, size - w + 1, (), generator=gen))
    y1 = int(torch.randint(0, size - h + 1, (), generator=gen))
    return x1, y1, x1 + w, y1 + h


def _draw(
    gen: torch.Generator, size: int, clutter: int, sizes: tuple[float, float], noise: float
) -> tuple[Tensor, Tensor]:
    """One image (size, size) and its target box, normalised xyxy (4,)."""
    img = torch.zeros(size, size)
    # Distractors are filled rectangles as bright as the target: only the target's shape
    # (a hollow frame) tells it apart, so the classification branch has work to do.
    for _ in range(clutter):
        x1, y1, x2, y2 = _box(gen, size, sizes[0] * 0.5, sizes[1])
        img[y1:y2, x1:x2] = 0.4 + 0.6 * float(torch.rand((), generator=gen))
    x1, y1, x2, y2 = _box(gen, size, *sizes)
    value = 0.7 + 0.3 * float(torch.rand((), generator=gen))
    img[y1:y2, x1:x2] = 0.0
    img[y1:y2, x1:x2][[0, -1], :] = value
    img[y1:y2, x1:x2][:, [0, -1]] = value
    img += noise * torch.randn(size, size, generator=gen)
    return img, torch.tensor([x1, y1, x2, y2], dtype=torch.float32) / size


@DATASETS.register_module()
class ClutteredTarget(TensorItems):
    """A hollow rectangular frame (the target) on filled rectangles (clutter) and noise.

    The split is fixed by ``seed``: train, val and test are drawn in that order from one
    generator, so they never share an image and every trial sees the same data. The task
    is class-agnostic, as single-object tracking is: ``labels`` is 0 for every item.

    Args:
        split: ``train``, ``val`` or ``test``.
        num_train, num_val, num_test: Images per split.
        image_size: Side of the square grey images.
        clutter: Distractor rectangles per image.
        min_size, max_size: Target side range, as fractions of ``image_size``.
        noise: Standard deviation of the pixel noise; objects have intensity 0.4 to 1.
        seed: Seed of the whole three-way split.

    Items:
        ``{'inputs': (1, S, S) float32, 'gt_boxes': (4,) float32 xyxy in [0, 1],
        'labels': int64 0}``.
    """

    fields = ("inputs", "gt_boxes", "labels")

    def __init__(
        self,
        split: Literal["train", "val", "test"],
        num_train: int = 1024,
        num_val: int = 256,
        num_test: int = 256,
        image_size: int = 32,
        clutter: int = 4,
        min_size: float = 0.2,
        max_size: float = 0.5,
        noise: float = 0.1,
        seed: int = 0,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        counts = {"train": num_train, "val": num_val, "test": num_test}
        for name, value in counts.items():
            if value < 1:
                raise ValueError(f"num_{name} must be positive, got {value}")
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8, got {image_size}")
        if clutter < 0:
            raise ValueError(f"clutter must be >= 0, got {clutter}")
        if not 0.0 < min_size <= max_size <= 1.0:
            raise ValueError(
                f"need 0 < min_size <= max_size <= 1, got min_size={min_size}, max_size={max_size}"
            )
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        gen = torch.Generator().manual_seed(seed)
        for name in SPLITS:  # draw the splits before this one, so each split is fixed
            items = [
                _draw(gen, image_size, clutter, (min_size, max_size), noise)
                for _ in range(counts[name])
            ]
            if name == split:
                break
        self.inputs = torch.stack([img for img, _ in items])[:, None]
        self.gt_boxes = torch.stack([box for _, box in items])
        self.labels = torch.zeros(len(items), dtype=torch.int64)
