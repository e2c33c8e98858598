"""Batched fetching: ablate's loaders give the batches of a per-item DataLoader, faster.

Every built-in in-memory dataset is checked under each kind of sampler (the seeded shuffle,
a DDP shard, a batch sampler) and in the evaluation shards; a subclass that augments per
item and an OpenMMLab-style dataset keep the per-item path; a whole training run gives the
same metrics either way.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from train_helpers import TINY

import ablate.train.build as build_module
import ablate.train.loop as loop_module
from ablate.config import Config
from ablate.registry import DATASETS, load_plugins
from ablate.train.batching import TensorItems, batched, collate, fetches_batches
from ablate.train.build import build_sampler, train_loader
from ablate.train.loop import Runtime, _shard_loader, train

load_plugins()


def _npz(tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x_train=rng.normal(size=(40, 1, 4, 4)), y_train=rng.integers(0, 3, 40))
    return {"type": "NpzDataset", "path": str(path)}


#: Every built-in in-memory dataset, small.
DATASET_CFGS: dict[str, Any] = {
    "SyntheticImages": {"type": "SyntheticImages", "num_samples": 50},
    "Digits": {"type": "Digits", "limit": 50},
    "Diabetes": {"type": "Diabetes"},
    "DigitIdentities": {"type": "DigitIdentities"},
    "ClutteredTarget": {"type": "ClutteredTarget", "num_train": 50, "image_size": 8},
    "NpzDataset": _npz,
}


def _dataset(name: str, tmp_path: Path) -> Dataset:
    spec = DATASET_CFGS[name]
    spec = spec(tmp_path) if callable(spec) else dict(spec)
    return DATASETS.build(spec, split="train")


def _cfg(batch_size: int = 8, sampler: dict[str, Any] | None = None) -> Config:
    data = copy.deepcopy(TINY)
    data["data"]["batch_size"] = batch_size
    if sampler is not None:
        data["data"]["sampler"] = sampler
    return Config(data, "tiny.yaml")


def _per_item(dataset: Dataset, loader: DataLoader) -> DataLoader:
    """The same loader as torch's defaults would fetch it: item by item, default_collate."""
    if loader.batch_sampler is not None and loader.batch_size is None:
        return DataLoader(dataset, batch_sampler=loader.batch_sampler)
    return DataLoader(
        dataset, batch_size=loader.batch_size, sampler=loader.sampler, drop_last=loader.drop_last
    )


def _assert_same_batches(got: Iterable[dict], expected: Iterable[dict]) -> int:
    got, expected = list(got), list(expected)
    assert len(got) == len(expected) > 0
    for a, b in zip(got, expected, strict=True):
        assert list(a) == list(b)  # same keys, same order
        for k in a:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
            assert torch.equal(a[k], b[k]), k
    return len(got)


@pytest.mark.parametrize("name", sorted(DATASET_CFGS))
@pytest.mark.parametrize("rank_world", [(0, 1), (1, 2)], ids=["shuffle", "ddp-rank1"])
def test_train_batches_equal_per_item_batches(
    name: str, rank_world: tuple[int, int], tmp_path: Path
) -> None:
    dataset = _dataset(name, tmp_path)
    assert fetches_batches(dataset)
    rank, world = rank_world
    sampler = build_sampler(_cfg(), dataset, rank, world, seed=5)
    loader = train_loader(_cfg(), dataset, sampler)
    assert isinstance(loader.dataset, type(batched(dataset)))
    assert loader.dataset is not dataset  # the batch-fetching view
    for epoch in (0, 1):  # set_epoch reorders both loaders alike
        sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        got = list(loader)
        sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        _assert_same_batches(got, _per_item(dataset, loader))


def test_a_batch_sampler_component_gets_the_same_batches() -> None:
    dataset = DATASETS.build({"type": "SyntheticImages", "num_samples": 64}, split="train")
    cfg = _cfg(sampler={"type": "TripletSampler", "batch_size": [2, 4]})
    for rank in (0, 1):
        sampler = build_sampler(cfg, dataset, rank, 2, seed=3)
        loader = train_loader(cfg, dataset, sampler)
        sampler.set_epoch(2)  # type: ignore[attr-defined]
        got = list(loader)
        n = _assert_same_batches(got, DataLoader(dataset, batch_sampler=sampler))
        assert n == len(sampler)


@pytest.mark.parametrize("name", ["Digits", "ClutteredTarget"])
def test_evaluation_shards_equal_per_item_shards(name: str, tmp_path: Path) -> None:
    dataset = _dataset(name, tmp_path)
    for rank in (0, 1):
        runtime = Runtime()
        runtime.rank, runtime.world_size = rank, 2
        loader = _shard_loader(dataset, runtime, 7, {})
        assert loader is not None
        shard = Subset(dataset, range(rank, len(dataset), 2))  # type: ignore[arg-type]
        _assert_same_batches(loader, DataLoader(shard, batch_size=7))


class _Flipped(DATASETS.get("SyntheticImages")):  # type: ignore[misc]
    """A user's subclass that augments per item: its own __getitem__ must be what trains."""

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = super().__getitem__(i)
        return {**item, "inputs": item["inputs"].flip(-1)}


class _OpenMMLabStyle(Dataset):
    """Items built per call, as OpenMMLab's datasets do: fetched item by item."""

    def __len__(self) -> int:
        return 20

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"inputs": torch.full((1, 2, 2), float(i)), "labels": torch.tensor(i % 2)}


@pytest.mark.parametrize("dataset", [_Flipped("train", num_samples=20), _OpenMMLabStyle()])
def test_other_datasets_are_fetched_item_by_item(dataset: Dataset) -> None:
    assert not fetches_batches(dataset)
    assert batched(dataset) is dataset
    sampler = build_sampler(_cfg(), dataset, 0, 1, seed=1)
    loader = train_loader(_cfg(), dataset, sampler)
    assert loader.dataset is dataset
    sampler.set_epoch(0)  # type: ignore[attr-defined]
    got = list(loader)
    sampler.set_epoch(0)  # type: ignore[attr-defined]
    _assert_same_batches(got, _per_item(dataset, loader))
    if isinstance(dataset, _Flipped):  # the flip is in the batches
        first = next(iter(DataLoader(dataset, batch_size=4, collate_fn=collate)))
        plain = TensorItems.__getitem__(dataset, 0)["inputs"]
        assert torch.equal(first["inputs"][0], plain.flip(-1))


def test_an_item_is_its_fields_rows() -> None:
    dataset = DATASETS.build({"type": "DigitIdentities", "split": "val"}, split="val")
    item = dataset[3]
    assert list(item) == ["inputs", "labels", "is_probe"]
    assert torch.equal(item["inputs"], dataset.inputs[3]) and item["labels"].dim() == 0
    assert len(dataset) == len(dataset.labels)
    batch = dataset.batch([3, 0])
    assert batch["is_probe"].dtype == torch.bool and batch["inputs"].shape[0] == 2


class _Recorder(Runtime):
    def __init__(self) -> None:
        self.metrics: list[dict[str, float]] = []

    def report(self, metrics: dict[str, float], images: Any, state: Any) -> None:
        self.metrics.append({k: v for k, v in metrics.items() if not k.startswith("time/")})


def test_a_run_gives_the_same_metrics_as_per_item_fetching(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = copy.deepcopy(TINY)
    data["train"].update(max_batches=None, epochs=2, seed=4)
    fast = _Recorder()
    train(Config(data, "tiny.yaml"), fast)
    for module in (build_module, loop_module):
        monkeypatch.setattr(module, "batched", lambda dataset: dataset)
    slow = _Recorder()
    train(Config(data, "tiny.yaml"), slow)
    assert len(fast.metrics) == 2
    assert fast.metrics == slow.metrics  # exactly: the same batches in the same order
