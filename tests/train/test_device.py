"""Device, loader defaults per device, channels-last and torch.compile, with real torch on
CPU (compile is skipped, with the reason, where no C++ compiler is installed)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from train_helpers import tiny

from ablate.config import Config
from ablate.settings import DataSettings, data_settings
from ablate.train.device import (
    GPU_LOADER_WORKERS,
    compiler_missing,
    loader_options,
    select_device,
)
from ablate.train.loop import train


def test_without_cuda_a_gpu_trial_falls_back_to_cpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert select_device(True) == torch.device("cpu")
    assert select_device(False) == torch.device("cpu")


@pytest.mark.parametrize(
    ("given", "device", "threads", "expected"),
    [
        ({}, "cpu", 4, (0, False, False)),
        ({}, "cuda", 8, (GPU_LOADER_WORKERS, True, True)),
        ({}, "cuda", 2, (2, True, True)),  # never more loader processes than CPU threads
        ({"loader_workers": 0}, "cuda", 8, (0, True, False)),
        ({"loader_workers": 2}, "cpu", 1, (2, False, True)),
        (
            {"loader_workers": 2, "persistent_workers": False, "pin_memory": True},
            "cpu",
            1,
            (2, True, False),
        ),
    ],
)
def test_loader_defaults_follow_the_device(
    given: dict[str, Any], device: str, threads: int, expected: tuple[int, bool, bool]
) -> None:
    torch.set_num_threads(threads)
    opts = loader_options(DataSettings(dataset={"type": "Digits"}, **given), torch.device(device))
    assert (opts["num_workers"], opts["pin_memory"], opts["persistent_workers"]) == expected


def test_persistent_workers_need_loader_workers() -> None:
    cfg = Config({"data": {"dataset": {"type": "Digits"}, "persistent_workers": True}}, "c.yaml")
    with pytest.raises(Exception, match="persistent_workers needs loader_workers"):
        data_settings(cfg)


def test_channels_last_trains_to_the_same_numbers() -> None:
    plain = train(tiny(epochs=1, max_batches=2))
    last = train(tiny(epochs=1, max_batches=2, channels_last=True))
    for key in ("train/loss", "val/loss", "val/top1"):
        assert last[key] == pytest.approx(plain[key], rel=1e-3, abs=1e-4), key


def test_loader_workers_train_to_the_same_numbers() -> None:
    plain = train(tiny())
    cfg = tiny()
    cfg.data["data"]["loader_workers"] = 1
    assert train(cfg)["val/loss"] == pytest.approx(plain["val/loss"], rel=1e-6)


@pytest.mark.skipif(compiler_missing() is not None, reason=str(compiler_missing()))
def test_compile_trains_to_the_same_numbers() -> None:
    # The smallest model that still has a conv, a head and a loss: inductor compiles each
    # forward and backward kernel to C++, tens of seconds per model on 2 shared cores.
    model = {"backbone": {"type": "ConvNet", "in_channels": 1, "widths": [4], "norm": False}}
    plain = train(tiny(model, epochs=1, max_batches=2))
    compiled = train(tiny(model, epochs=1, max_batches=2, compile=True))
    for key in ("train/loss", "val/loss", "val/top1"):
        assert compiled[key] == pytest.approx(plain[key], rel=1e-3, abs=1e-4), key
