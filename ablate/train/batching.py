"""Batched fetching for in-memory tensor datasets: one index op per field and batch.

A DataLoader over a map-style dataset calls ``__getitem__`` once per item and then
``default_collate`` stacks the items: for small in-memory items that Python work costs
more than the copy it makes. A :class:`TensorItems` dataset keeps each field as one tensor
whose first dimension is the item, so ablate's loaders fetch a whole batch with
``tensor[indices]`` instead (torch's ``__getitems__`` protocol, through :func:`batched`),
and :func:`collate` passes that already-batched dict through. The batches are the ones
``default_collate`` would have made, element for element and dtype for dtype.

Any other dataset (OpenMMLab-style dicts, files read per item, per-item augmentation)
is fetched item by item as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.utils.data import Dataset, default_collate


class TensorItems(Dataset):
    """A dataset whose item ``i`` is ``{f: getattr(self, f)[i] for f in self.fields}``.

    Subclasses set ``fields`` (the attribute names, which are also the item's keys) and
    store each field as a tensor with one row per item, e.g. ``inputs`` (N, C, H, W) and
    ``labels`` (N,). ablate then fetches batches in one index op per field. A subclass that
    overrides ``__getitem__`` (to augment, say) is fetched item by item, so its own
    ``__getitem__`` is what trains.
    """

    fields: ClassVar[tuple[str, ...]] = ("inputs", "labels")

    def __len__(self) -> int:
        return len(getattr(self, self.fields[0]))

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {f: getattr(self, f)[i] for f in self.fields}

    def batch(self, indices: Sequence[int] | Tensor) -> dict[str, Tensor]:
        """The items at ``indices``, collated: each field (B, ...)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {f: getattr(self, f)[idx] for f in self.fields}


def fetches_batches(dataset: Dataset) -> bool:
    """Whether ``dataset``'s items are exactly its fields' rows (``__getitem__`` not overridden)."""
    return (
        isinstance(dataset, TensorItems)
        and type(dataset).__getitem__ is TensorItems.__getitem__
        and all(isinstance(getattr(dataset, f, None), Tensor) for f in dataset.fields)
    )


class _BatchFetch(Dataset):
    """``dataset`` with torch's ``__getitems__``: one batched dict per list of indices."""

    def __init__(self, dataset: TensorItems) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.dataset[i]

    def __getitems__(self, indices: list[int]) -> dict[str, Tensor]:
        return self.dataset.batch(indices)


def batched(dataset: Dataset) -> Dataset:
    """What ablate's loaders read: a batch-fetching view of a :class:`TensorItems` dataset,
    any other dataset as it is. Pair it with :func:`collate`."""
    return _BatchFetch(dataset) if fetches_batches(dataset) else dataset  # type: ignore[arg-type]


def collate(data: Any) -> Any:
    """A DataLoader's ``collate_fn``: an already-batched dict as it is, else a list of items
    through ``default_collate``."""
    return data if isinstance(data, dict) else default_collate(data)


__all__ = ["TensorItems", "batched", "collate", "fetches_batches"]
