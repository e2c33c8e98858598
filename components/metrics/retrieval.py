"""Retrieval rank-k and mAP over a probe/gallery split, OpenGait style.

Every evaluated item is gathered from every rank, then each probe ranks the gallery by
distance. Part-shaped embeddings (N, C, P), OpenGait's horizontal parts, are compared part
by part and the P distances averaged, or flattened to (N, C * P) first.

Which items are probes: with ``probe_key`` set, the batch says (``is_probe``, true for a
probe, false for a gallery item). Without it every item is a probe against all the others
(leave-one-out): the gallery is the evaluated split, never the training set.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torchmetrics.utilities import dim_zero_cat

from ablate import METRICS, BaseMetric

Distance = Literal["euclidean", "cosine"]
Parts = Literal["mean", "flatten"]


def part_distance(probe: Tensor, gallery: Tensor, distance: Distance) -> Tensor:
    """Mean over parts of the per-part distance: (Q, C, P) x (G, C, P) -> (Q, G)."""
    q, g = probe.permute(2, 0, 1).double(), gallery.permute(2, 0, 1).double()  # (P, N, C)
    if distance == "cosine":
        q = torch.nn.functional.normalize(q, dim=2)
        g = torch.nn.functional.normalize(g, dim=2)
        return (1.0 - q @ g.transpose(1, 2)).mean(dim=0)
    return torch.cdist(q, g).mean(dim=0)


def rank_scores(
    dist: Tensor, match: Tensor, valid: Tensor, topk: tuple[int, ...]
) -> tuple[Tensor, Tensor, int]:
    """Rank-k hit rates (len(topk),) and mean AP over the probes with a match.

    Args:
        dist: (Q, G) distances.
        match: (Q, G) whether the gallery item has the probe's label.
        valid: (Q, G) whether the gallery item may be retrieved for that probe.

    Returns:
        Rank-k rates and mAP as fractions, and how many probes had a match.
    """
    dist = dist.masked_fill(~valid, float("inf"))
    order = dist.argsort(dim=1, stable=True)
    hits = (match & valid).gather(1, order)  # (Q, G), nearest first
    has = hits.any(dim=1)
    hits = hits[has]
    if hits.shape[0] == 0:
        zeros = torch.zeros(len(topk) + 1, dtype=torch.float64, device=dist.device)
        return zeros[:-1], zeros[-1], 0
    ranks = torch.stack([hits[:, :k].any(dim=1).double().mean() for k in topk])
    found = hits.double().cumsum(dim=1)
    positions = torch.arange(1, hits.shape[1] + 1, dtype=torch.float64, device=dist.device)
    ap = (found / positions * hits).sum(dim=1) / hits.sum(dim=1)
    return ranks, ap.mean(), int(has.sum())


@METRICS.register_module()
class Retrieval(BaseMetric):
    """Rank-k (``rank1``, ``rank5``, ...) and ``mAP``, in percent, probes against a gallery.

    Probes without any match in their gallery are left out of every score.

    Args:
        topk: The k of each ``rank<k>``.
        distance: ``euclidean`` or ``cosine`` (1 - cosine similarity).
        parts: For (N, C, P) embeddings: ``mean`` of per-part distances, or ``flatten``.
        embedding_key: The ``inference_feat`` key of the embeddings, (N, C) or (N, C, P).
        label_key: The batch key of the identities (N,).
        probe_key: A batch key, (N,) bool: true for probes, false for the gallery. None:
            every item is a probe against all the others.
        exclude_key: A batch key (N,) whose equal values never match: OpenGait leaves
            out the probe's own view (``views``). The item itself is always left out.
    """

    def __init__(
        self,
        topk: int | list[int] | tuple[int, ...] = (1, 5),
        distance: Distance = "euclidean",
        parts: Parts = "mean",
        embedding_key: str = "embeddings",
        label_key: str = "labels",
        probe_key: str | None = None,
        exclude_key: str | None = None,
    ) -> None:
        inputs = {"embeddings": f"inference_feat.{embedding_key}", "labels": f"batch.{label_key}"}
        if probe_key is not None:
            inputs["is_probe"] = f"batch.{probe_key}"
        if exclude_key is not None:
            inputs["exclude"] = f"batch.{exclude_key}"
        super().__init__(inputs)
        ks = (topk,) if isinstance(topk, int) else tuple(topk)
        if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
            raise ValueError(f"topk must be positive whole numbers, got {topk!r}")
        if distance not in ("euclidean", "cosine"):
            raise ValueError(f"distance must be 'euclidean' or 'cosine', got {distance!r}")
        if parts not in ("mean", "flatten"):
            raise ValueError(f"parts must be 'mean' or 'flatten', got {parts!r}")
        self.topk, self.distance, self.parts = tuple(dict.fromkeys(ks)), distance, parts
        for state in ("embeddings", "labels", "is_probe", "exclude"):
            self.add_state(state, [], "cat")

    def names(self) -> list[str]:
        return [*(f"rank{k}" for k in self.topk), "mAP"]

    def check(self, embeddings: Tensor, labels: Tensor, **flags: Tensor) -> None:
        if embeddings.ndim not in (2, 3):
            raise ValueError(
                f"expects embeddings of shape (N, C) or part-shaped (N, C, P), got "
                f"{tuple(embeddings.shape)}"
            )
        n = embeddings.shape[0]
        for name, value in {"labels": labels, **flags}.items():
            if value.shape != (n,):
                raise ValueError(
                    f"expects {name} of shape ({n},) for embeddings {tuple(embeddings.shape)}, "
                    f"got {tuple(value.shape)}"
                )

    def update(
        self,
        embeddings: Tensor,
        labels: Tensor,
        is_probe: Tensor | None = None,
        exclude: Tensor | None = None,
    ) -> None:
        n = embeddings.shape[0]
        emb = embeddings.double()
        emb = emb.reshape(n, -1, 1) if self.parts == "flatten" or emb.ndim == 2 else emb
        self.embeddings.append(emb)
        self.labels.append(labels.long())
        probe = torch.ones(n, dtype=torch.bool) if is_probe is None else is_probe.bool()
        self.is_probe.append(probe.to(labels.device))
        self.exclude.append(
            torch.full((n,), -1, dtype=torch.long, device=labels.device)
            if exclude is None
            else exclude.long()
        )

    def compute(self) -> dict[str, Tensor]:
        emb, labels = dim_zero_cat(self.embeddings), dim_zero_cat(self.labels)
        is_probe, exclude = dim_zero_cat(self.is_probe).bool(), dim_zero_cat(self.exclude)
        n = labels.shape[0]
        idx = torch.arange(n, device=labels.device)
        probes = idx[is_probe]
        gallery = idx if "is_probe" not in self.inputs else idx[~is_probe]
        dist = part_distance(emb[probes], emb[gallery], self.distance)
        valid = probes[:, None] != gallery[None, :]
        if "exclude" in self.inputs:
            valid &= exclude[probes][:, None] != exclude[gallery][None, :]
        match = labels[probes][:, None] == labels[gallery][None, :]
        ranks, m_ap, _ = rank_scores(dist, match, valid, self.topk)
        return {**dict(zip(self.names(), 100.0 * ranks)), "mAP": 100.0 * m_ap}
