"""Every built-in metric, evaluated by the loop's ``evaluate`` across 2 real gloo processes
on uneven shards, equals the single-process evaluation of the same data.

The states go through torchmetrics' sync (sums, and the padded gather of ``cat`` states);
``val/loss`` through the runtime's ``all_reduce_sum``, as under Ray Train.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_metric_values import (
    BOXES,
    CASES,
    EMB,
    GT_BOXES,
    IDS,
    LABELS,
    LOGITS,
    PREDS,
    PROBE,
    TARGETS,
    VIEWS,
)
from torch import Tensor, nn

from ablate import METRICS
from ablate.train.evaluate import evaluate

WORLD = 2
SHARDS = (range(0, 23, 2), range(1, 23, 2))  # the loop's strided shards: 12 and 11 items
BATCH = 5  # 3 batches on each rank, the last one short


class _Lookup(nn.Module):
    """A 'model' whose outputs are the fixed tensors of the items in its batch."""

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Any]:
        i = batch["idx"]
        logits = LOGITS[i]
        feats = {"logits": logits, "preds": PREDS[i], "boxes": BOXES[i], "embeddings": EMB[i]}
        return {"training_feat": {"cls": {"logits": logits}}, "inference_feat": feats}


def _loss(training_feat: dict[str, dict[str, Tensor]]) -> tuple[Tensor, dict]:
    return training_feat["cls"]["logits"].square().mean(), {}


def _batches(items: range) -> list[dict[str, Tensor]]:
    idx = torch.tensor(list(items))
    data = {"labels": LABELS, "targets": TARGETS, "gt_boxes": GT_BOXES, "is_probe": PROBE}
    data = {**data, "views": VIEWS, "ids": IDS}
    out = []
    for lo in range(0, len(idx), BATCH):
        i = idx[lo : lo + BATCH]
        out.append({"idx": i, **{k: v[i] for k, v in data.items()}})
    return out


def _groups() -> list[list[dict[str, Any]]]:
    """The cases' metrics in groups whose names do not clash: one evaluation each."""
    others = [c[1] for c in CASES if c[1]["type"] != "Retrieval" and c[0] != "Accuracy-k-above-C"]
    retrieval = [{**c[1], "label_key": "ids"} for c in CASES if c[1]["type"] == "Retrieval"]
    return [others, *([r] for r in retrieval)]


class _Runtime:
    device = torch.device("cpu")

    def __init__(self, distributed: bool) -> None:
        self.distributed = distributed

    def all_reduce_sum(self, values: Tensor) -> Tensor:
        if self.distributed:
            dist.all_reduce(values)
        return values


def _evaluate(items: range, distributed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, group in enumerate(_groups()):
        metrics = [METRICS.build(c) for c in group]
        runtime = _Runtime(distributed)
        result = evaluate(_Lookup(), _loss, metrics, _batches(items), "val", runtime)  # type: ignore[arg-type]
        out.update({f"{i}:{k}": v for k, v in result.as_result().items()})
    return out


def _worker(rank: int, port: int, out_dir: Path) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    try:
        torch.save(_evaluate(SHARDS[rank], True), out_dir / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_metrics_equal_single_process(tmp_path: Path) -> None:
    single = _evaluate(range(23), False)
    names = {k.split("/")[-1] for k in single}
    assert {"loss", "top1", "f1", "mse", "r2", "iou", "success_auc", "rank1", "mAP"} <= names
    assert "0:artifact/val/confusion" in single and "3:val/mAP" in single

    # The control: one rank's shard alone gives other numbers, so equality below means sync.
    alone = _evaluate(SHARDS[0], False)
    assert sum(alone[k] != single[k] for k in single if isinstance(single[k], float)) >= 8

    mp.spawn(_worker, args=(_free_port(), tmp_path), nprocs=WORLD, join=True)
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert set(got) == set(single)
        for key, value in single.items():
            if isinstance(value, float):
                assert abs(got[key] - value) <= 1e-6 * max(1.0, abs(value)), (key, got[key], value)
            else:
                assert got[key] == value, key
