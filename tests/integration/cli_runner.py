"""Integration helpers: every sweep runs as its own ``ablate`` process, so each test's local
Ray starts and stops with that process and nothing leaks between tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: A quick base config: a small ResNet on part of Digits, one epoch = well under a second.
TINY_BASE = f"""
_base_: {ROOT / "configs" / "digits_resnet.yaml"}
model:
  backbone: {{base_channels: 8}}
data:
  dataset: {{type: Digits, limit: 400}}
  batch_size: 50
train: {{epochs: 2, num_threads: 1}}
"""


@dataclass
class Ran:
    code: int
    out: str
    err: str


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def ablate(*args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None) -> Ran:
    """Run the CLI in a fresh process (its own local Ray) and capture everything."""
    full_env = {
        **os.environ,
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
        "PYTHONPATH": os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")]),
        **(env or {}),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "ablate.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)
