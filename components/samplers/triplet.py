"""P×K batches for metric learning: P identities, K items of each (OpenGait's TripletSampler)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Dataset

from ablate import SAMPLERS, BaseSampler


@SAMPLERS.register_module()
class TripletSampler(BaseSampler):
    """Batches of ``P`` identities × ``K`` items each, split across DDP ranks.

    Every rank draws the same global batch from the epoch's generator and takes every
    ``world_size``-th item of it (OpenGait's split), so the ranks' shares are disjoint and
    each rank sees ``K / world_size`` items of every identity when ``K`` divides evenly.
    An identity with fewer than ``K`` items is sampled with replacement.

    Args:
        dataset: The training set (supplied by ablate); its ``labels`` attribute is used
            when it has one, else every item's ``labels``.
        batch_size: ``[P, K]``. ``P * K`` is the batch of all ranks together.
        batch_shuffle: Shuffle the items within a batch (else grouped by identity).
        batches_per_epoch: Batches per epoch; by default ``len(dataset) // (P * K)``, at
            least 1.
        rank, world_size, seed: Supplied by ablate.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: Sequence[int],
        batch_shuffle: bool = False,
        batches_per_epoch: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__(dataset, rank, world_size, seed)
        if len(batch_size) != 2 or min(batch_size) < 1:
            raise ValueError(f"batch_size must be [P, K] of positive ints, got {list(batch_size)}")
        self.p, self.k = int(batch_size[0]), int(batch_size[1])
        if (self.p * self.k) % world_size:
            raise ValueError(
                f"batch_size P×K = {self.p}×{self.k} does not split evenly over {world_size} workers"
            )
        labels = self.labels()
        self.identities = torch.unique(labels)
        if len(self.identities) < self.p:
            raise ValueError(
                f"batch_size asks for P = {self.p} identities, the dataset has {len(self.identities)}"
            )
        self.members = [torch.nonzero(labels == pid).view(-1) for pid in self.identities]
        if batches_per_epoch is not None and batches_per_epoch < 1:
            raise ValueError(f"batches_per_epoch must be at least 1, got {batches_per_epoch}")
        self.batches = batches_per_epoch or max(1, len(labels) // (self.p * self.k))
        self.batch_shuffle = batch_shuffle

    def _global_batch(self, g: torch.Generator) -> torch.Tensor:
        """P × K dataset indices, the same on every rank."""
        picked = torch.randperm(len(self.identities), generator=g)[: self.p]
        parts = []
        for i in picked.tolist():
            members = self.members[i]
            if len(members) >= self.k:
                parts.append(members[torch.randperm(len(members), generator=g)[: self.k]])
            else:
                parts.append(members[torch.randint(len(members), (self.k,), generator=g)])
        batch = torch.cat(parts)
        if self.batch_shuffle:
            batch = batch[torch.randperm(len(batch), generator=g)]
        return batch

    def __iter__(self) -> Iterator[list[int]]:
        g = self.generator()
        for _ in range(self.batches):
            yield self._global_batch(g)[self.rank :: self.world_size].tolist()

    def __len__(self) -> int:
        return self.batches
