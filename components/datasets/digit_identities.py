"""scikit-learn's digits as identities for retrieval, split as gait benchmarks split people:
the identities seen in training never appear in the probe or gallery."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from ablate import DATASETS, TensorItems

SPLITS = ("train", "val", "test")


@DATASETS.register_module()
class DigitIdentities(TensorItems):
    """Each digit is an identity; ``train`` holds ``train_identities``, ``val`` and ``test``
    hold the other identities (each identity's images shuffled by ``split_seed`` and halved
    between them).

    Within ``val`` and ``test``, the first ``gallery_fraction`` of each identity's images
    form the gallery and the rest are probes (``is_probe``), as CASIA-B's gallery is a
    subject's first sequences. Train labels are renumbered 0..K-1 for a softmax
    classifier; val and test labels are the digits (only equality matters there).

    Args:
        split: ``train``, ``val`` or ``test``.
        train_identities: The digits trained on; the rest are held out.
        gallery_fraction: Share of each held-out identity's images in the gallery.
        split_seed: Seed of the val/test halves (not of training).

    Items:
        ``{'inputs': (1, 8, 8) float32 in [0, 1], 'labels': int64, 'is_probe': bool}``.
    """

    fields = ("inputs", "labels", "is_probe")

    def __init__(
        self,
        split: Literal["train", "val", "test"] = "train",
        train_identities: Sequence[int] = (0, 1, 2, 3, 4, 5),
        gallery_fraction: float = 0.5,
        split_seed: int = 0,
    ) -> None:
        from sklearn.datasets import load_digits

        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        ids = sorted(set(train_identities))
        if len(ids) < 2 or not set(ids) < set(range(10)) or len(ids) > 8:
            raise ValueError(
                f"train_identities must be 2 to 8 distinct digits 0-9, leaving 2 or more for "
                f"probe and gallery; got {list(train_identities)}"
            )
        if not 0.0 < gallery_fraction < 1.0:
            raise ValueError(f"gallery_fraction must be in (0, 1), got {gallery_fraction}")
        data = load_digits()
        images = (data.images / 16.0).astype(np.float32)[:, None]
        digits = data.target.astype(np.int64)
        if split == "train":
            keep = np.flatnonzero(np.isin(digits, ids))
            labels = np.searchsorted(ids, digits[keep])
            probe = np.zeros(len(keep), dtype=bool)
        else:
            keep, probe = self._held_out(digits, ids, split, gallery_fraction, split_seed)
            labels = digits[keep]
        self.inputs = torch.from_numpy(np.ascontiguousarray(images[keep]))
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.is_probe = torch.from_numpy(probe)
        self.indices = torch.from_numpy(keep.astype(np.int64))  # rows of load_digits()
        self.num_identities = len(np.unique(labels))

    @staticmethod
    def _held_out(
        digits: np.ndarray, ids: list[int], split: str, gallery_fraction: float, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices of this split's images and whether each is a probe."""
        rng = np.random.default_rng(seed)
        keep, probe = [], []
        for digit in sorted(set(range(10)) - set(ids)):
            mine = rng.permutation(np.flatnonzero(digits == digit))
            half = mine[: len(mine) // 2] if split == "val" else mine[len(mine) // 2 :]
            n_gallery = max(1, round(len(half) * gallery_fraction))
            keep.append(half)
            probe.append(np.arange(len(half)) >= n_gallery)
        return np.concatenate(keep), np.concatenate(probe)
