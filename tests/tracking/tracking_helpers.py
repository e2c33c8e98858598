"""Helpers for the tracking tests: tiny sweeps and a real ``mlflow server``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: A quick base config: a small ResNet on part of Digits, one epoch well under a second.
TINY_BASE = f"""
_base_: {ROOT / "configs" / "digits_resnet.yaml"}
model:
  backbone: {{base_channels: 8}}
data:
  dataset: {{type: Digits, limit: 300}}
  batch_size: 50
train: {{epochs: 2, num_threads: 1}}
"""

#: Two cells: one trains, one's loss goes NaN on its first steps and fails the trial.
TINY_SWEEP = """
name: {name}
_base_: base.yaml
search:
  optimizer.lr: [0.05, 1.0e+6]
  seeds: {seeds}
tune: {{max_concurrent: 2}}
"""


def write(where: Path, name: str, text: str) -> Path:
    path = where / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def tiny_sweep(where: Path, name: str = "tiny", seeds: str = "[0]", text: str = TINY_SWEEP) -> Path:
    write(where, "base.yaml", TINY_BASE)
    return write(where, f"{name}.yaml", text.format(name=name, seeds=seeds))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MlflowServer:
    """A real ``mlflow server`` on 127.0.0.1 with its own backend store and artifacts."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> None:
        self.where.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "mlflow", "server"]
        cmd += ["--backend-store-uri", f"sqlite:///{self.where / 'backend.db'}"]
        cmd += ["--artifacts-destination", str(self.where / "artifacts")]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        log = open(self.where / "server.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            cmd, cwd=self.where, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.where / "server.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server did not start in {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
