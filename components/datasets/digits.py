"""scikit-learn's bundled 8x8 digits: real data with no download, the embedded default."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ablate import DATASETS


@DATASETS.register_module()
class Digits(Dataset):
    """1,797 handwritten digits, 8x8 grey, 10 classes, split deterministically.

    Args:
        split: ``train`` or ``val``.
        val_fraction: Share of each class held out for ``val``.
        split_seed: Seed of the split (not of training), so every trial sees the same split.
        limit: Use only the first ``limit`` items of the split (for quick runs).

    Items:
        ``{'inputs': (1, 8, 8) float32 in [0, 1], 'labels': int64}``.
    """

    def __init__(
        self,
        split: Literal["train", "val"] = "train",
        val_fraction: float = 0.25,
        split_seed: int = 0,
        limit: int | None = None,
    ) -> None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        data = load_digits()
        x = (data.images / 16.0).astype(np.float32)[:, None]
        y = data.target.astype(np.int64)
        xtr, xva, ytr, yva = train_test_split(
            x, y, test_size=val_fraction, random_state=split_seed, stratify=y
        )
        x, y = (xtr, ytr) if split == "train" else (xva, yva)
        if limit is not None:
            x, y = x[:limit], y[:limit]
        self.inputs = torch.from_numpy(np.ascontiguousarray(x))
        self.labels = torch.from_numpy(y)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"inputs": self.inputs[i], "labels": self.labels[i]}
