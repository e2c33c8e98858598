"""Samplers of training batches: the contract of ``data.sampler`` components, and the
default seeded shuffle.

A sampler decides which items make up each training batch (OpenGait's P×K batches for a
triplet loss, say). Every sampler has ``set_epoch(epoch)``: an epoch's order depends on the
seed and the epoch alone, so a resumed trial sees the order it would have seen, and every
DDP rank draws the same global batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, DistributedSampler, RandomSampler, Sampler


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The random source of one epoch: the same on every rank."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


class BaseSampler(Sampler[list[int]]):
    """Base of a ``SAMPLERS`` component: it yields this rank's training batches.

    Lifecycle: built once per training run from ``data.sampler`` with the arguments ablate
    supplies (``dataset``, ``rank``, ``world_size``, ``seed``) and the config's; then, each
    epoch, ``set_epoch(epoch)`` and one pass of ``__iter__``, which yields lists of dataset
    indices, one list per batch. ``__len__`` is the number of batches per epoch.

    Under DDP every rank builds the same sampler: draw each epoch's global batches from
    :meth:`generator` (identical on every rank) and yield this rank's disjoint share.
    """

    def __init__(self, dataset: Dataset, rank: int = 0, world_size: int = 1, seed: int = 0) -> None:
        self.dataset = dataset
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self) -> torch.Generator:
        return epoch_generator(self.seed, self.epoch)

    def labels(self) -> torch.Tensor:
        """Every item's label (N,): the dataset's ``labels`` attribute, else read item by item."""
        found = getattr(self.dataset, "labels", None)
        n = len(self.dataset)  # type: ignore[arg-type]
        if found is not None and len(found) == n:
            return torch.as_tensor(found).long().view(-1)
        return torch.tensor([int(self.dataset[i]["labels"]) for i in range(n)], dtype=torch.long)

    def __iter__(self) -> Iterator[list[int]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError


class SeededShuffle(RandomSampler):
    """The default sampler of one process: a shuffle seeded by (seed, epoch)."""

    def __init__(self, dataset: Any, seed: int) -> None:
        super().__init__(dataset, generator=torch.Generator())
        self.seed = seed

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed * 100_003 + epoch)  # type: ignore[union-attr]


def default_sampler(dataset: Dataset, rank: int, world_size: int, seed: int) -> Sampler[int]:
    """This rank's shard under DDP, else a seeded random order (items, batched by the loader)."""
    if world_size > 1:
        return DistributedSampler(
            dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed
        )
    return SeededShuffle(dataset, seed)


__all__ = ["BaseSampler", "SeededShuffle", "default_sampler", "epoch_generator"]
