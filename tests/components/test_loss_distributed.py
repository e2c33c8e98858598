"""``gather_and_scale`` with ``TripletLoss`` across 2 real gloo processes.

Each rank computes the loss on every rank's embeddings (its own keep their gradient) times
the world size; after DDP's gradient averaging the result must equal the single-process
gradient on the concatenated batch.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from ablate_components.losses.triplet import TripletLoss

WORLD = 2
SPLIT = (5, 4)  # uneven shards exercise the padded all_gather
MARGIN = 1.0


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(sum(SPLIT), 5, generator=torch.Generator().manual_seed(0))
    # Hardest pairs cross the shard boundary; label 3 has no positive and must be skipped.
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 3])
    return x, y


def _model() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(5, 3)


def _shard(rank: int) -> slice:
    lo = sum(SPLIT[:rank])
    return slice(lo, lo + SPLIT[rank])


def _grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters()]


def _worker(rank: int, port: int, out_dir: Path) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    try:
        x, y = _data()
        model = _model()
        loss, info = TripletLoss(margin=MARGIN)(
            embeddings=model(x[_shard(rank)]), labels=y[_shard(rank)]
        )
        loss.backward()
        grads = _grads(model)
        for g in grads:  # what DDP does with every parameter's gradient
            dist.all_reduce(g)
            g /= WORLD
        info = {k: float(v) for k, v in info.items()}
        torch.save({"loss": loss.item(), "info": info, "grads": grads}, out_dir / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gathered_triplet_gradient_matches_single_process(tmp_path: Path) -> None:
    x, y = _data()
    model = _model()
    ref_loss, ref_info = TripletLoss(margin=MARGIN)(embeddings=model(x), labels=y)
    ref_loss.backward()
    ref_grads = _grads(model)
    assert ref_loss.item() > 0 and all(g.abs().sum() > 0 for g in ref_grads)

    # The control: averaging per-shard losses (no gather) gives a different gradient.
    naive = [torch.zeros_like(g) for g in ref_grads]
    for rank in range(WORLD):
        shard_model = _model()
        loss, _ = TripletLoss(margin=MARGIN)(
            embeddings=shard_model(x[_shard(rank)]), labels=y[_shard(rank)]
        )
        loss.backward()
        naive = [n + g / WORLD for n, g in zip(naive, _grads(shard_model))]
    assert not all(torch.allclose(n, r, atol=1e-4) for n, r in zip(naive, ref_grads))

    mp.spawn(_worker, args=(_free_port(), tmp_path), nprocs=WORLD, join=True)

    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        # The logged value is the true loss on the global batch (not world-size scaled),
        # while the gradient carries the world-size factor DDP's averaging undoes.
        assert got["loss"] == _approx(ref_loss.item())
        for k, v in ref_info.items():
            assert got["info"][k] == _approx(float(v))
        for g, r in zip(got["grads"], ref_grads):
            torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)


def _approx(value: float) -> object:
    return pytest.approx(value, rel=1e-5, abs=1e-7)
