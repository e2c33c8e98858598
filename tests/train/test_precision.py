"""Mixed precision in the one training loop, on CPU with real torch: bf16 lands within
tolerance of fp32 on the flagship model; fp16's GradScaler steps, is checkpointed every
epoch, and a resumed run scales (and ends) exactly as the uninterrupted one."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from train_helpers import tiny

from ablate.config import load_config
from ablate.train.loop import Runtime, StateFn, train
from ablate.train.precision import Precision

ROOT = Path(__file__).resolve().parents[2]


class Recorder(Runtime):
    """Keeps every epoch's checkpoint state; restores the one it is given."""

    def __init__(self, restore_from: dict[str, Any] | None = None) -> None:
        self.states: list[dict[str, Any]] = []
        self.restore_from = restore_from

    def restore(self) -> dict[str, Any] | None:
        return copy.deepcopy(self.restore_from)

    def report(self, metrics: dict[str, float], images: Any, state: StateFn) -> None:
        if "ablate_restored" not in metrics:
            self.states.append(copy.deepcopy(state()))


def test_bf16_is_within_tolerance_of_fp32_on_the_flagship_model() -> None:
    over = ["train.epochs=2", "train.max_batches=8", "data.val_batch_size=256"]
    fp32 = train(load_config(ROOT / "configs" / "digits_resnet.yaml", over))
    bf16 = train(
        load_config(ROOT / "configs" / "digits_resnet.yaml", [*over, "train.amp={dtype: bf16}"])
    )
    assert bf16["train/loss"] == pytest.approx(fp32["train/loss"], rel=0.05)
    assert bf16["val/loss"] == pytest.approx(fp32["val/loss"], rel=0.10)
    assert abs(bf16["val/top1"] - fp32["val/top1"]) <= 5.0  # points of accuracy
    assert bf16["val/loss"] != fp32["val/loss"]  # bf16 really ran: rounding differs


def test_fp16_scaler_steps_and_is_checkpointed_every_epoch() -> None:
    rec = Recorder()
    train(tiny(amp={"dtype": "fp16"}), rec)
    scalers = [s["scaler"] for s in rec.states]
    assert [s["_growth_tracker"] for s in scalers] == [3, 6]  # one per finite step
    assert all(s["scale"] == 2.0**16 for s in scalers)  # no overflow, no growth yet
    fp32 = Recorder()
    train(tiny(), fp32)
    assert fp32.states[-1]["scaler"] is None


def test_a_resumed_fp16_run_keeps_its_scale_and_ends_as_the_uninterrupted_one() -> None:
    whole = Recorder()
    final = train(tiny(amp={"dtype": "fp16"}), whole)
    resumed = Recorder(restore_from=whole.states[0])
    again = train(tiny(amp={"dtype": "fp16"}), resumed)
    timing = "time/train_epoch_s"
    assert {k: v for k, v in again.items() if k != timing} == {
        k: v for k, v in final.items() if k != timing
    }
    assert resumed.states[-1]["scaler"] == whole.states[-1]["scaler"]
    # The scale comes from the checkpoint, not a fresh scaler.
    odd = copy.deepcopy(whole.states[0])
    odd["scaler"]["scale"] = 1024.0
    rec = Recorder(restore_from=odd)
    train(tiny(amp={"dtype": "fp16"}), rec)
    assert rec.states[-1]["scaler"]["scale"] == 1024.0
    assert rec.states[-1]["scaler"]["_growth_tracker"] == 6


def test_precision_autocasts_only_when_asked() -> None:
    layer = torch.nn.Linear(4, 2)
    x = torch.randn(3, 4)
    for dtype, expected in [(None, torch.float32), ("bf16", torch.bfloat16)]:
        with Precision(dtype, torch.device("cpu")).autocast():
            assert layer(x).dtype == expected
    assert Precision("bf16", torch.device("cpu")).state_dict() is None  # no scaler in bf16


def test_fp16_clips_unscaled_gradients() -> None:
    layer = torch.nn.Linear(4, 1, bias=False)
    opt = torch.optim.SGD(layer.parameters(), lr=0.0)
    p = Precision("fp16", torch.device("cpu"))
    with p.autocast():
        # True gradients: 0.75 per weight (norm 1.5); scaled by 2**16 they still fit in
        # fp16 (49152 < 65504), so the step is not skipped.
        loss = layer(torch.full((8, 4), 0.75)).float().mean()
    p.step(loss, opt, layer.parameters(), grad_clip=1.0)
    grads = torch.cat([q.grad.view(-1) for q in layer.parameters()])
    assert p.state_dict()["_growth_tracker"] == 1  # a finite step, taken
    # Clipped after unscaling: norm 1 and the true direction (clipping the scaled gradients
    # and unscaling after would leave a norm of 1/65536).
    assert float(grads.norm()) == pytest.approx(1.0, rel=1e-3)
    assert grads.tolist() == pytest.approx([0.5] * 4, rel=1e-3)
