"""A chaos harness: one sweep against a real ``mlflow server``, while random SIGKILLs hit
the driver, trial processes and the server, each brought back; then the damage, counted
from MLflow.

- **driver**: ``ablate run`` is PID 1 of its own PID namespace, so SIGKILL takes its local
  Ray with it, as a lost machine would; the harness runs the same command again.
- **trial**: one of Ray Tune's trial processes (``ray::ImplicitFunc``) in that namespace;
  Tune retries the trial (``tune.max_failures``), which resumes from its checkpoint.
- **mlflow**: the server, SIGKILLed and started again on the same port and database; the
  driver's tracker retries its writes meanwhile.

Used by ``bench/bench_chaos.py`` (the full run, figures in BENCHMARKS.md) and by
``tests/integration/test_chaos.py`` (a fast variant).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("driver", "trial", "mlflow")


@functools.cache
def isolation() -> list[str]:
    """The prefix that runs a command as PID 1 of a new PID namespace: when it ends, or when
    ``unshare`` is killed (``--kill-child``), the kernel kills every process inside, Ray's
    raylet, GCS and workers included. Unprivileged, through a user namespace. Empty where
    the kernel refuses (then a process group is all there is)."""
    cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
    if os.geteuid() != 0:
        cmd[1:1] = ["--user", "--map-root-user"]
    try:
        ok = subprocess.run([*cmd, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return cmd if ok else []


def spawn(cmd: list[str], log: Path, **kw: Any) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [*isolation(), *cmd],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kw,
        )


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL its process group; with ``--kill-child`` its whole PID namespace goes too."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sweep_text(name: str, necks: int, seeds: int, epochs: int, limit: int) -> str:
    """A sweep of ``necks x seeds`` inline trials on Digits, each a few seconds."""
    choices = [
        "{type: GlobalAveragePooling}",
        "{type: GeneralizedMeanPooling}",
        "{type: GeneralizedMeanPooling, p: 2.0, name: GeM2}",
        "{type: GeneralizedMeanPooling, p: 4.0, name: GeM4}",
        "{type: GeneralizedMeanPooling, p: 6.0, name: GeM6}",
    ][:necks]
    return f"""
name: {name}
_base_: {ROOT / "configs" / "digits_resnet.yaml"}
model: {{backbone: {{base_channels: 8}}}}
data: {{dataset: {{type: Digits, limit: {limit}}}, batch_size: 50}}
search:
  model.neck: [{", ".join(choices)}]
  seeds: {list(range(seeds))}
train: {{epochs: {epochs}, num_threads: 1}}
tune: {{max_failures: 5}}
"""


@dataclass
class Server:
    """``mlflow server`` on 127.0.0.1, one SQLite database; SIGKILLed and started again."""

    root: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> None:
        cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--workers", "1"]
        cmd += ["--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}"]
        cmd += ["--artifacts-destination", str(self.root / "artifacts")]
        self.proc = spawn(cmd, self.root / "mlflow.log", cwd=self.root, env=_env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited {self.proc.returncode}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r,
            ):
                if r.status == 200:
                    return
            time.sleep(0.3)
        raise TimeoutError("mlflow server did not come up")

    def stop(self) -> None:
        if self.proc is not None:
            kill(self.proc)
            self.proc = None


#: How long the driver's tracker keeps retrying a store that is down: longer than the
#: server takes to start again on a loaded machine, so a server kill costs no driver.
RETRY_S = "300"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLFLOW_"))}
    env["TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"] = "0"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env["ABLATE_TRACKING_RETRY_S"] = RETRY_S
    return env


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def trial_pids(driver: subprocess.Popen[bytes]) -> list[int]:
    """Ray Tune's trial processes of this driver: those in its PID namespace (or, without
    one, its process group) titled ``ray::ImplicitFunc``."""
    scope: tuple[str, str] | None = None
    if isolation():
        inner = _children(driver.pid)
        with contextlib.suppress(OSError, IndexError):
            scope = ("ns", os.readlink(f"/proc/{inner[0]}/ns/pid"))
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            if not cmd.startswith(b"ray::ImplicitFunc"):
                continue
            if scope is not None:
                mine = os.readlink(proc / "ns" / "pid") == scope[1]
            else:
                mine = os.getpgid(int(proc.name)) == driver.pid
        except OSError:
            continue
        if mine:
            pids.append(int(proc.name))
    return pids


@dataclass
class Chaos:
    """One sweep driven to its end while SIGKILLs hit it.

    Args:
        where: The sweep's directory (``sweep.yaml`` in it).
        server: The tracking server.
        kills: The targets to hit, in order (:data:`TARGETS`).
        gap_s: Seconds between kills, drawn uniformly from this range.
        rng: The random source (the gaps, which trial).
    """

    where: Path
    server: Server
    kills: list[str]
    gap_s: tuple[float, float]
    rng: random.Random
    events: list[dict[str, Any]] = field(default_factory=list)
    driver_runs: int = 0

    def _driver(self) -> subprocess.Popen[bytes]:
        self.driver_runs += 1
        cmd = [sys.executable, "-m", "ablate.cli", "run", "sweep.yaml"]
        cmd += ["--tracking-uri", self.server.uri]
        return spawn(cmd, self.where / "driver.log", cwd=self.where, env=_env())

    def run(self, timeout: float) -> float:
        """Drive the sweep to exit 0; its wall time in seconds."""
        t0 = time.monotonic()
        todo = list(self.kills)
        driver = self._driver()
        # Each gap starts once trials run (again): every fault hits a sweep that is working.
        next_kill: float | None = None
        while True:
            if time.monotonic() - t0 > timeout:
                kill(driver)
                raise TimeoutError(f"the sweep did not finish in {timeout:.0f}s: {self.events}")
            code = driver.poll()
            if code == 0:
                return time.monotonic() - t0
            if code is not None:  # killed, or the store was down when it started: again
                if self.server.proc is None:
                    self.server.start()
                driver = self._driver()
            elif todo and next_kill is None:
                if trial_pids(driver):
                    next_kill = time.monotonic() + self.rng.uniform(*self.gap_s)
            elif todo and time.monotonic() >= next_kill and self._strike(todo[0], driver):  # type: ignore[operator]
                todo.pop(0)
                next_kill = None  # the next gap starts once trials run again
            time.sleep(0.1)

    def _strike(self, target: str, driver: subprocess.Popen[bytes]) -> bool:
        """SIGKILL ``target`` now (and bring it back); False when it is not there yet."""
        at = round(time.monotonic(), 1)
        if target == "trial":
            pids = trial_pids(driver)
            if not pids:
                return False
            pid = self.rng.choice(pids)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        elif target == "driver":
            if not trial_pids(driver):
                return False  # still starting: a kill now would hit nothing of the sweep
            kill(driver)  # run() starts it again
        else:
            self.server.stop()
            time.sleep(self.rng.uniform(0.5, 3.0))
            self.server.start()
        self.events.append({"target": target, "t": at})
        return True


def damage(
    uri: str, sweep: str, pairs: int, epochs: int, metric: str = "val/top1"
) -> dict[str, int]:
    """Counted from MLflow: (cell, seed) pairs without a FINISHED run, runs beyond one per
    pair, and epochs missing or logged twice over all runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(sweep)
    assert exp is not None, f"no experiment {sweep}"
    runs = client.search_runs([exp.experiment_id], "tags.`ablate.role` = 'trial'", max_results=5000)
    per_pair = Counter((r.data.tags["ablate.cell"], r.data.tags["ablate.seed"]) for r in runs)
    finished = {
        (r.data.tags["ablate.cell"], r.data.tags["ablate.seed"])
        for r in runs
        if r.info.status == "FINISHED"
    }
    gaps = repeats = 0
    for r in runs:
        steps = Counter(m.step for m in client.get_metric_history(r.info.run_id, metric))
        missing = [e for e in range(1, epochs + 1) if e not in steps]
        gaps += len(missing)
        repeats += sum(n - 1 for n in steps.values())
        if missing or max(steps.values(), default=1) > 1:  # what a fix needs to know
            print(f"damage: {r.info.run_name} {r.info.status} steps={dict(steps)}", flush=True)
    return {
        "trials_lost": pairs - len(finished),
        "duplicate_runs": sum(n - 1 for n in per_pair.values()),
        "epoch_gaps": gaps,
        "epochs_logged_twice": repeats,
    }


def uninterrupted(where: Path, server: Server, timeout: float) -> float:
    """The same sweep with no kills: the wall time the chaos run is compared with."""
    return Chaos(where, server, [], (1.0, 1.0), random.Random(0)).run(timeout)


__all__ = ["TARGETS", "Chaos", "Server", "damage", "sweep_text", "uninterrupted"]
