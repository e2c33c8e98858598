"""Tiny data files in the real formats, for dataset tests (importable by every test here)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write_cifar_batch(path: Path, n: int, seed: int, *, legacy_numpy: bool = True) -> None:
    """One batch file as in cifar-10-python.tar.gz: a protocol-2 pickled dict with bytes keys.

    ``legacy_numpy`` rewrites the array reconstructor to ``numpy.core.multiarray``, the name
    the real files (pickled by numpy 1.x) reference.
    """
    rng = np.random.default_rng(seed)
    batch = {
        b"batch_label": b"testing batch",
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    raw = pickle.dumps(batch, protocol=2)
    if legacy_numpy:
        raw = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    path.write_bytes(raw)


def write_cifar(folder: Path, n: int = 3) -> Path:
    """``data_batch_1..5`` (``n`` images each) and ``test_batch`` (``n + 1``) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        write_cifar_batch(folder / f"data_batch_{i}", n, seed=i)
    write_cifar_batch(folder / "test_batch", n + 1, seed=0)
    return folder


def write_npz(path: Path, n_train: int = 6, n_val: int = 4, **extra: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.normal(size=(n_train, 1, 4, 4)).astype(np.float32),
        "y_train": rng.integers(0, 3, n_train),
        "x_val": rng.normal(size=(n_val, 1, 4, 4)).astype(np.float32),
        "y_val": rng.integers(0, 3, n_val),
        **extra,
    }
    np.savez(path, **arrays)
    return path
