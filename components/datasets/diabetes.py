"""scikit-learn's bundled diabetes data: a real regression task with no download."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from ablate import DATASETS, TensorItems

SPLITS = ("train", "val", "test")


@DATASETS.register_module()
class Diabetes(TensorItems):
    """442 patients, 10 standardised features, disease progression after a year.

    The three-way split is fixed by ``split_seed`` (a permutation, then ``val_fraction``
    and ``test_fraction`` of it held out), so every trial sees the same split. With
    ``standardize_target`` the target is centred and scaled by the *train* split's mean
    and standard deviation, so MSE is in units of the target's variance (an MSE of 1 is
    predicting the train mean) and R² is unchanged.

    Args:
        split: ``train``, ``val`` or ``test``.
        val_fraction, test_fraction: Shares held out for ``val`` and ``test``.
        split_seed: Seed of the split (not of training).
        standardize_target: Scale the target as above; else it is in its raw units (25-346).

    Items:
        ``{'inputs': (10,) float32, 'targets': () float32, 'labels': int64 index of the
        patient}``.
    """

    fields = ("inputs", "targets", "labels")

    def __init__(
        self,
        split: Literal["train", "val", "test"] = "train",
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        standardize_target: bool = True,
    ) -> None:
        from sklearn.datasets import load_diabetes

        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if not (val_fraction > 0 and test_fraction > 0 and val_fraction + test_fraction < 1):
            raise ValueError(
                f"need val_fraction, test_fraction > 0 with a sum below 1, got "
                f"{val_fraction} and {test_fraction}"
            )
        x, y = load_diabetes(return_X_y=True)
        order = np.random.default_rng(split_seed).permutation(len(y))
        n_val, n_test = round(len(y) * val_fraction), round(len(y) * test_fraction)
        parts = {
            "val": order[:n_val],
            "test": order[n_val : n_val + n_test],
            "train": order[n_val + n_test :],
        }
        if standardize_target:
            train_y = y[parts["train"]]
            y = (y - train_y.mean()) / train_y.std()
        idx = np.sort(parts[split])
        self.inputs = torch.from_numpy(x[idx].astype(np.float32))
        self.targets = torch.from_numpy(y[idx].astype(np.float32))
        self.labels = torch.from_numpy(idx.astype(np.int64))
