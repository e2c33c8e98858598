"""Integration helpers: every sweep runs as its own ``ablate`` process in its own PID
namespace, so each test's local Ray (and every process Ray starts) ends with it and nothing
leaks between tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from chaos import isolation  # noqa: E402  (one definition, shared with the benchmarks)

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


def spawn(cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """``cmd`` as PID 1 of a new PID namespace (:func:`chaos.isolation`: when it ends, or
    ``unshare`` is killed, the kernel kills every process inside, Ray's raylet, GCS and
    workers included), in a session of its own; end it with :func:`end`."""
    return subprocess.Popen([*isolation(), *cmd], start_new_session=True, **kwargs)


def end(proc: subprocess.Popen[Any], grace: float = 20.0) -> None:
    """SIGTERM to its process group, then SIGKILL: the namespace goes with its PID 1."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
            if sig == signal.SIGTERM:
                break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
    proc.wait(10)


def cli_env(cwd: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
        "PYTHONPATH": os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")]),
        **(env or {}),
    }


def start(
    *args: str, cwd: Path, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.Popen[str]:
    """The CLI in a fresh, isolated process (its own local Ray)."""
    return spawn(
        [sys.executable, "-m", "ablate.cli", *args],
        cwd=cwd,
        env=cli_env(cwd, env),
        text=True,
        **kw,
    )


def together(runs: dict[str, tuple[tuple[str, ...], Path]], timeout: float = 600) -> dict[str, Ran]:
    """Several CLI runs started at once (``{key: (args, cwd)}``), each isolated as
    :func:`ablate` runs it. Most of a short sweep's time is fixed cost that waits (Ray's
    start, trial processes, the report), so a few overlap well on two cores. Output goes
    to files, so that none blocks on a full pipe while another is waited for."""
    with contextlib.ExitStack() as stack:
        files = {
            key: [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in "oe"] for key in runs
        }
        procs = {
            key: start(*args, cwd=cwd, stdout=files[key][0], stderr=files[key][1])
            for key, (args, cwd) in runs.items()
        }
        for proc in procs.values():
            stack.callback(lambda p=proc: p.poll() is None and end(p))
        deadline = time.monotonic() + timeout
        ran = {}
        for key, proc in procs.items():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(1.0, deadline - time.monotonic()))
            for f in files[key]:
                f.seek(0)
            out, err = (f.read() for f in files[key])
            if proc.returncode is None:
                raise AssertionError(f"{key}: ablate timed out:\n{out[-3000:]}\n{err[-3000:]}")
            ran[key] = Ran(proc.returncode, out, err)
        return ran


def ablate(*args: str, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None) -> Ran:
    """Run the CLI in a fresh, isolated process and capture everything."""
    proc = start(*args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        end(proc, grace=5)
        out, err = proc.communicate()
        raise AssertionError(f"ablate timed out:\n{out[-3000:]}\n{err[-3000:]}") from None
    finally:
        if proc.poll() is None:
            end(proc)
    return Ran(proc.returncode, out, err)
