"""Your own arrays, from one ``.npz`` file (``np.savez``): the shortest way to bring data."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ablate import DATASETS, TensorItems
from ablate.errors import AblateError, did_you_mean


@DATASETS.register_module()
class NpzDataset(TensorItems):
    """Inputs and integer labels of each split, from arrays in one ``.npz`` file.

    Write it with ``np.savez(path, x_train=..., y_train=..., x_val=..., y_val=...)``.
    Inputs are used as stored (cast to float32, not rescaled), so save images as
    (N, C, H, W) already normalised. Object arrays are refused (they would need pickle).

    Args:
        split: ``train`` or ``val``.
        path: The ``.npz`` file.
        x_key: Name of the inputs array; ``{split}`` becomes ``train`` or ``val``.
        y_key: Name of the labels array, likewise. For irregular names, set the val split's
            keys under ``data.val_dataset``.
        limit: Use only the first ``limit`` items of the split.

    Items:
        ``{'inputs': x[i] float32 (e.g. (C, H, W)), 'labels': int64}``.
    """

    def __init__(
        self,
        split: Literal["train", "val"],
        path: str,
        x_key: str = "x_{split}",
        y_key: str = "y_{split}",
        limit: int | None = None,
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be positive or null, got {limit}")
        file = Path(path).expanduser().resolve()
        if not file.is_file():
            raise AblateError(f"npz file {file} does not exist", hint="write it with np.savez")
        xk, yk = x_key.format(split=split), y_key.format(split=split)
        try:
            with np.load(file, allow_pickle=False) as npz:
                keys = list(npz.files)
                for k in (xk, yk):
                    if k not in keys:
                        raise AblateError(
                            f"{file}: no array '{k}' for the {split} split"
                            f"{did_you_mean(k, set(keys) - {xk, yk})}; "
                            f"it holds {sorted(keys)}",
                            hint="set x_key / y_key to the array names",
                        )
                x, y = npz[xk], npz[yk]
        except AblateError:
            raise
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise AblateError(f"{file}: cannot read as an .npz of numeric arrays ({err})") from None
        if x.ndim < 2 or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise AblateError(
                f"{file}: '{xk}' must be a numeric array (N, ...), got {x.dtype} {x.shape}"
            )
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise AblateError(
                f"{file}: '{yk}' must be integer class labels (N,), got {y.dtype} {y.shape}"
            )
        if len(x) != len(y):
            raise AblateError(f"{file}: '{xk}' has {len(x)} items but '{yk}' has {len(y)}")
        if limit is not None:
            x, y = x[:limit], y[:limit]
        self.inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        self.labels = torch.from_numpy(y.astype(np.int64))
