"""Dry builds construct optimizers without importing torch._dynamo (1 to 1.5 s), and the
optimizers then still train, save and load. A fresh interpreter, so the import is real."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import torch
from ablate.config import Config
from ablate.train.build import build_optimizer, check_optimizer

cfg = Config({"optimizer": {"type": "AdamW", "lr": 0.01,
                            "lr_schedule": {"type": "StepLR", "step_size": 1}}}, "x.yaml")
check_optimizer(cfg, epochs=2)
assert "torch._dynamo" not in sys.modules, "the dry build imported torch._dynamo"

net = torch.nn.Linear(3, 1)
opt, schedule = build_optimizer(cfg, list(net.parameters()), 2)
state = opt.state_dict()
before = net.weight.detach().clone()
net(torch.ones(4, 3)).sum().backward()
opt.step()  # torch's step imports torch._dynamo itself (graph_break): a trial pays it
opt.zero_grad(set_to_none=True)
schedule.step()
opt.load_state_dict(state)
assert not torch.equal(before, net.weight.detach()), "the optimizer did not step"
assert all(p.grad is None for p in net.parameters())
print("ok")
"""


def test_a_dry_build_leaves_dynamo_out_and_optimizers_still_work() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
