"""Optimizers built by ablate are constructed and stepped without importing torch._dynamo
(1 s of CPU per process), and train exactly as torch's own wrappers do. Fresh interpreters,
so the imports are real: one as ablate runs, one with torch._dynamo imported first (then
ablate leaves torch's wrappers alone)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json
import sys
import torch
if sys.argv[1] == "torch":
    import torch._dynamo  # noqa: F401  (torch's wrappers stay as they are)
from ablate.config import Config
from ablate.train.build import build_optimizer, check_optimizer
from ablate.train.device import eager_optimizer_methods

# A class whose step torch has already hooked (an instance built before ablate's own):
eager_optimizer_methods()
torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(1))], lr=0.1)

out = {}
for kind in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad"):
    extra = {"momentum": 0.9} if kind == "SGD" else {}
    cfg = Config({"optimizer": {"type": kind, "lr": 0.01, **extra,
                                "lr_schedule": {"type": "StepLR", "step_size": 1}}}, "x.yaml")
    check_optimizer(cfg, epochs=2)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt, schedule = build_optimizer(cfg, list(net.parameters()), 2)
    calls = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    x = torch.randn(16, 5)
    for _ in range(5):
        opt.zero_grad(set_to_none=True)
        net(x).pow(2).mean().backward()
        opt.step()
        assert torch.is_grad_enabled(), "the step left grad mode off"
    schedule.step()
    state = opt.state_dict()
    opt.load_state_dict(state)
    out[kind] = {
        "params": [p.detach().double().flatten().tolist() for p in net.parameters()],
        "hooks": calls,
    }
out["dynamo"] = "torch._dynamo" in sys.modules
print(json.dumps(out))
"""


def _run(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    return {mode: _run(mode) for mode in ("ablate", "torch")}


def test_ablate_builds_and_steps_optimizers_without_dynamo(runs: dict[str, dict]) -> None:
    assert runs["ablate"]["dynamo"] is False
    assert runs["torch"]["dynamo"] is True


@pytest.mark.parametrize("kind", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_the_eager_step_trains_exactly_as_torchs(runs: dict[str, dict], kind: str) -> None:
    eager, torch_own = runs["ablate"][kind], runs["torch"][kind]
    assert eager["params"] == torch_own["params"]  # bit for bit, after 5 steps
    assert eager["hooks"] == ["pre", "post"] * 5 == torch_own["hooks"]
