"""CIFAR-10 from the standard python-pickle batches, without torchvision.

Expects the extracted ``cifar-10-python.tar.gz``: ``data_batch_1`` .. ``data_batch_5``
(train) and ``test_batch`` (val), each a pickled dict with ``b'data'`` uint8 (N, 3072) in
channel-major order and ``b'labels'`` (N ints).
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ablate import DATASETS
from ablate.errors import AblateError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
VAL_FILES = ("test_batch",)
SUBFOLDER = "cifar-10-batches-py"
# mmpretrain's CIFAR-10 statistics, on the [0, 1] scale.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
EXPECTED = "expected data_batch_1..5 and test_batch (CIFAR-10 python version)"


def _safe_globals() -> dict[tuple[str, str], Any]:
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    found: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        found[(module, "_reconstruct")] = reconstruct
        found[(module, "scalar")] = scalar
    found[("_codecs", "encode")] = codecs.encode  # how protocol 2 stores bytes
    return found


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only numpy arrays and plain containers: a config names the data path, and a
    config must never be able to run code (a crafted pickle otherwise could)."""

    allowed = _safe_globals()

    def find_class(self, module: str, name: str) -> Any:
        found = self.allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return found


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, 3, 32, 32) uint8, labels (N,) int64)`` of one batch file."""
    try:
        with path.open("rb") as f:
            raw = _ArrayUnpickler(f, encoding="bytes").load()
    except Exception as err:
        raise AblateError(f"{path}: not a CIFAR-10 python batch file ({err})") from None
    if not isinstance(raw, dict):
        raise AblateError(
            f"{path}: expected a pickled dict with b'data' and b'labels', got {type(raw).__name__}"
        )
    got = {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
    if "data" not in got or "labels" not in got:
        raise AblateError(
            f"{path}: expected keys b'data' and b'labels', got {sorted(map(str, got))}"
        )
    data, labels = got["data"], np.asarray(got["labels"])
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
    ):
        shape = getattr(data, "shape", None)
        dtype = getattr(data, "dtype", type(data).__name__)
        raise AblateError(f"{path}: expected b'data' uint8 (N, 3072), got {dtype} {shape}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise AblateError(
            f"{path}: expected {len(data)} integer b'labels', got {labels.dtype} {labels.shape}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise AblateError(f"{path}: labels must be in 0..9, got {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def find_batches(data_root: str) -> Path:
    """The folder holding the batch files: ``data_root`` or its ``cifar-10-batches-py``."""
    root = Path(data_root).expanduser().resolve()
    for folder in (root, root / SUBFOLDER):
        if all((folder / name).is_file() for name in TRAIN_FILES + VAL_FILES):
            return folder
    if not root.is_dir():
        raise AblateError(f"data_root {root} does not exist; {EXPECTED}")
    folder = root / SUBFOLDER if (root / SUBFOLDER).is_dir() else root
    missing = [n for n in TRAIN_FILES + VAL_FILES if not (folder / n).is_file()]
    raise AblateError(
        f"data_root {root}: {EXPECTED} in it or in its {SUBFOLDER} folder; missing {missing} in {folder}",
        hint="extract cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html",
    )


@DATASETS.register_module()
class CIFAR10(Dataset):
    """CIFAR-10: 32x32 colour images of 10 classes; 50,000 train and 10,000 val (the test set).

    Images stay uint8 in memory and are normalised per item, with mmpretrain's mean/std.
    Only load files you trust the origin of, although the loader refuses any pickled object
    other than numpy arrays.

    Args:
        split: ``train`` (``data_batch_1..5``) or ``val`` (``test_batch``).
        data_root: Folder with the batch files, or with the ``cifar-10-batches-py`` folder.
        limit: Use only the first ``limit`` items of the split (for quick runs).
        augment: For ``train`` only: random 32x32 crop of the image zero-padded by 4, and a
            random horizontal flip (the standard CIFAR recipe).

    Items:
        ``{'inputs': (3, 32, 32) float32 normalised, 'labels': int64}``.
    """

    #: Lets ``ablate plan`` build models on a stand-in batch where the files are elsewhere.
    sample_spec: ClassVar[dict[str, Any]] = {"inputs": (3, 32, 32), "num_classes": 10}

    def __init__(
        self,
        split: Literal["train", "val"],
        data_root: str,
        limit: int | None = None,
        augment: bool = False,
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be positive or null, got {limit}")
        folder = find_batches(data_root)
        parts = [_read_batch(folder / n) for n in (TRAIN_FILES if split == "train" else VAL_FILES)]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(labels)
        self.augment = augment and split == "train"
        self.mean = torch.tensor(MEAN).view(3, 1, 1)
        self.std = torch.tensor(STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        img = self.images[i]
        if self.augment:
            padded = F.pad(img, (4, 4, 4, 4))
            top, left = torch.randint(0, 9, (2,)).tolist()
            img = padded[:, top : top + 32, left : left + 32]
            if torch.rand(()) < 0.5:
                img = img.flip(-1)
        x = (img.float() / 255.0 - self.mean) / self.std
        return {"inputs": x, "labels": self.labels[i]}
