"""scikit-learn's bundled 8x8 digits: real data with no download, the embedded default."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from ablate import DATASETS, TensorItems


@DATASETS.register_module()
class Digits(TensorItems):
    """1,797 handwritten digits, 8x8 grey, 10 classes, split three ways deterministically.

    ``test`` is held out first (``test_fraction`` of every class), then ``val`` from the rest
    (``val_fraction`` of it): with the defaults 1,077 train, 360 val and 360 test items. The
    test items never depend on ``val_fraction``, so the test set stays fixed while val is tuned.

    Args:
        split: ``train``, ``val`` or ``test``.
        val_fraction: Share of each class, after the test split, held out for ``val``.
        test_fraction: Share of each class held out for ``test``.
        split_seed: Seed of the split (not of training), so every trial sees the same split.
        limit: Use only the first ``limit`` items of the split (for quick runs).

    Items:
        ``{'inputs': (1, 8, 8) float32 in [0, 1], 'labels': int64}``.
    """

    def __init__(
        self,
        split: Literal["train", "val", "test"] = "train",
        val_fraction: float = 0.25,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        limit: int | None = None,
    ) -> None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {value}")
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        data = load_digits()
        x = (data.images / 16.0).astype(np.float32)[:, None]
        y = data.target.astype(np.int64)
        x, xte, y, yte = train_test_split(
            x, y, test_size=test_fraction, random_state=split_seed, stratify=y
        )
        xtr, xva, ytr, yva = train_test_split(
            x, y, test_size=val_fraction, random_state=split_seed, stratify=y
        )
        x, y = {"train": (xtr, ytr), "val": (xva, yva), "test": (xte, yte)}[split]
        if limit is not None:
            x, y = x[:limit], y[:limit]
        self.inputs = torch.from_numpy(np.ascontiguousarray(x))
        self.labels = torch.from_numpy(y)
