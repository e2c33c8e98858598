"""A real two-node Ray cluster (token authentication on) and a real ``mlflow server``, all on
127.0.0.1, set up as a user sets one up on one machine: both nodes share one Ray temp dir (a
user's default ``/tmp/ray``), so they share the directory Ray unpacks a job's
``working_dir`` into, and the second node's agent replaces it while the job's driver stands
in it. Then ``ablate submit`` of a DDP sweep whose workers span both nodes, from the sweep
file's own directory with the default ``--storage``, and its resubmission; ``ablate run
--address ray://`` through Ray Client; and the refusals that happen before any connection.

One module-scoped cluster serves every test. Each of its processes is PID 1 of its own PID
namespace (:func:`cli_runner.spawn`), so Ray's own children end with it; nothing
machine-wide (``ray stop``) is ever run, and the fixture checks that nothing outlives it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cli_runner import ROOT, Ran, end, spawn

from ablate.layout import DEFAULT_CLUSTER_STORAGE
from ablate.run.cluster.jobs import SWEEP_META

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
# Both nodes on 127.0.0.1, as the user ran them (Ray reports the machine's outward
# address as their node IP, but the dashboard, client server and MLflow bind to loopback).
HEAD_IP = WORKER_IP = "127.0.0.1"

BASE = f"""
_base_: {ROOT / "configs" / "digits_resnet.yaml"}
model:
  backbone: {{base_channels: 8}}
data:
  dataset: {{type: Digits, limit: 200}}
  batch_size: 50
train: {{epochs: 2, num_threads: 1}}
"""

# A single-file plugin (shipped in the job's working_dir) and a package plugin (shipped as a
# py_module); neither is importable on the cluster unless ablate ships it.
FILE_PLUGIN = """
from ablate import NECKS
from ablate_components.necks.pooling import GlobalAveragePooling


@NECKS.register_module()
class ShippedPooling(GlobalAveragePooling):
    \"\"\"Global average pooling that only the submitting machine has.\"\"\"
"""
PACKAGE_PLUGIN = FILE_PLUGIN.replace("ShippedPooling", "PackagedPooling")


def free_ports(n: int) -> list[int]:
    """``n`` ports free on every loopback address, below the kernel's ephemeral range.

    A port the kernel handed out for port 0 is one it may hand out again to any of Ray's
    own processes while the cluster starts ("Address already in use"); a port below that
    range is never handed out so.
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < n:
        port = rng.randrange(max(1024, low - 12000), low)
        if port in ports:
            continue
        try:
            for host in dict.fromkeys(("127.0.0.1", HEAD_IP, WORKER_IP)):
                with socket.socket() as s:
                    s.bind((host, port))
        except OSError:
            continue
        ports.append(port)
    return ports


@dataclass
class Proc:
    """A server started as PID 1 of its own PID namespace, in its own session."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, cmd: list[str], env: dict[str, str], cwd: Path) -> Proc:
        log = cwd / f"{name}.log"
        with log.open("wb") as out:
            popen = spawn(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        return cls(name, popen, log)

    def check(self) -> None:
        if self.popen.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{tail}")

    def stop(self, timeout: float = 20.0) -> None:
        end(self.popen, grace=timeout)


def survivors(root: Path) -> list[str]:
    """Processes anywhere on the machine whose command line names ``root``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            with contextlib.suppress(OSError):
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if str(root) in cmd:
                    found.append(f"{proc.name}: {cmd[:200]}")
    return found


@dataclass
class Cluster:
    jobs: str
    client: str
    mlflow: str
    token: str
    token_file: Path
    root: Path
    store: Path
    procs: list[Proc] = field(default_factory=list)

    def http(self, url: str, token: str | None = None) -> dict:
        req = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {token or self.token}"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def start(
        self, *args: str, cwd: Path, home: Path | None = None, **env: str
    ) -> subprocess.Popen[str]:
        """The CLI as a user runs it, in ``cwd``: nothing of the cluster's token in the
        environment but what the test gives (HOME is a scratch one, so ~/.ray/auth_token is
        not there); the plugins are in ``<home>/plugins`` (``home`` defaults to ``cwd``)."""
        home = home or cwd
        full = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLFLOW_"))}
        full.pop("PYTHONPATH", None)
        (home / "home").mkdir(exist_ok=True)
        full.update(HOME=str(home / "home"), PYTHONPATH=str(home / "plugins"), **env)
        return spawn(
            [sys.executable, "-m", "ablate.cli", *args],
            cwd=cwd,
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def ablate(
        self, *args: str, cwd: Path, home: Path | None = None, timeout: float = 240, **env: str
    ) -> Ran:
        return result(self.start(*args, cwd=cwd, home=home, **env), timeout)

    def jobs_list(self) -> list[dict]:
        return self.http(f"{self.jobs}/api/jobs/")  # type: ignore[return-value]

    def submit_probe(self) -> bool:
        """A trivial job the cluster takes once its job agent is up, run to its end."""
        req = urllib.request.Request(
            f"{self.jobs}/api/jobs/",
            data=json.dumps({"entrypoint": "true", "submission_id": "probe"}).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(req, timeout=10).close()
        except urllib.error.HTTPError as err:
            if "already exists" not in err.read().decode(errors="replace"):
                return False
        status = self.http(f"{self.jobs}/api/jobs/probe")["status"]
        assert status != "FAILED", self.http(f"{self.jobs}/api/jobs/probe")
        return bool(status == "SUCCEEDED")


def result(proc: subprocess.Popen[str], timeout: float = 240) -> Ran:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        end(proc, grace=5)
        out, err = proc.communicate()
        raise AssertionError(f"ablate timed out:\n{out[-3000:]}\n{err[-3000:]}") from None
    return Ran(proc.returncode, out, err)


def _wait(what: str, ready, procs: list[Proc], timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            p.check()
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready in {timeout:.0f}s")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # Short paths: Ray's unix sockets live under its temp dir (108 characters at most).
    root = Path(tempfile.mkdtemp(prefix="abl-", dir="/tmp"))
    token = secrets.token_hex(16)
    token_file = root / "token"
    token_file.write_text(token)
    gcs, dash, client, agent1, agent2, mlport = free_ports(6)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "MLFLOW_"))}
    env.pop("PYTHONPATH", None)
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # the job's `python` is this one
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=token,
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",  # stop at once, not after a 30 s drain
        RAY_USAGE_STATS_ENABLED="0",
    )
    ray = str(BIN / "ray")
    common = ["--block", "--num-cpus=1", "--disable-usage-stats"]
    c = Cluster(
        jobs=f"http://127.0.0.1:{dash}",
        client=f"ray://127.0.0.1:{client}",
        mlflow=f"http://127.0.0.1:{mlport}",
        token=token,
        token_file=token_file,
        root=root,
        store=root / "mlflow",
    )
    c.store.mkdir()
    try:
        head = Proc.start(
            "head",
            [
                *(ray, "start", "--head", f"--port={gcs}", f"--node-ip-address={HEAD_IP}"),
                *("--dashboard-host=127.0.0.1", f"--dashboard-port={dash}"),
                *(f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent1}"),
                *(f"--temp-dir={root / 'ray'}", *common),
            ],
            env,
            root,
        )
        c.procs.append(head)
        plain = {k: v for k, v in env.items() if not k.startswith("RAY_")}
        server = Proc.start(
            "mlflow",
            [
                *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"),
                *("--port", str(mlport), "--workers", "1"),
                *("--backend-store-uri", f"sqlite:///{c.store / 'mlflow.db'}"),
                *("--artifacts-destination", str(c.store / "artifacts")),
            ],
            plain,
            root,
        )
        c.procs.append(server)

        def gcs_up() -> bool:
            with socket.create_connection((HEAD_IP, gcs), timeout=2):
                return True

        _wait("the head's GCS", gcs_up, [head], 120)
        worker = Proc.start(
            "worker",
            [
                *(ray, "start", f"--address={HEAD_IP}:{gcs}", f"--node-ip-address={WORKER_IP}"),
                *(f"--dashboard-agent-listen-port={agent2}", f"--temp-dir={root / 'ray'}"),
                *common,
            ],
            env,
            root,
        )
        c.procs.insert(0, worker)  # stopped first: a worker without its head waits for it
        _wait("the head's dashboard", lambda: c.http(f"{c.jobs}/api/version"), [head], 120)

        def two_nodes() -> bool:
            nodes = c.http(f"{c.jobs}/api/v0/nodes")["data"]["result"]["result"]
            return sum(n["state"] == "ALIVE" for n in nodes) == 2

        _wait("the second node", two_nodes, [head, worker], 120)

        def health() -> bool:
            with urllib.request.urlopen(f"{c.mlflow}/health", timeout=5) as resp:
                return resp.status == 200

        _wait("the MLflow server", health, [server], 120)
        _wait("the head's job agent", c.submit_probe, [head, worker], 180)
        yield c
    finally:
        for p in c.procs:
            p.stop(timeout=10)
        left = survivors(root)
        shutil.rmtree(root, ignore_errors=True)
    assert not left, f"processes outlived the cluster: {left}"


def _sweep_dir(tmp_path: Path, name: str, extra: str) -> Path:
    """A sweep whose _base_ is relative, next to its plugins (on this machine only)."""
    (tmp_path / "home").mkdir(exist_ok=True)
    plugins = tmp_path / "plugins"
    (plugins / "packaged_necks").mkdir(parents=True, exist_ok=True)
    (plugins / "shipped_neck.py").write_text(FILE_PLUGIN)
    (plugins / "packaged_necks" / "__init__.py").write_text(PACKAGE_PLUGIN)
    (tmp_path / "sweeps").mkdir(exist_ok=True)
    (tmp_path / "sweeps" / "base.yaml").write_text(BASE)
    sweep = tmp_path / "sweeps" / f"{name}.yaml"
    sweep.write_text(textwrap.dedent(extra))
    return sweep


def _runs(c: Cluster, name: str, invocations: int) -> tuple[list[Any], list[Any], Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=c.mlflow)
    exp = client.get_experiment_by_name(name)
    assert exp is not None, f"no experiment {name}"
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if r.data.tags.get("ablate.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("ablate.role") == "trial"]
    assert len(parents) == invocations, [r.info.status for r in parents]
    return parents, children, client


def _check_trials(c: Cluster, name: str, necks: set[str], invocations: int = 1) -> None:
    """Each neck trained once (in the first invocation), every epoch logged once."""
    parents, children, client = _runs(c, name, invocations)
    assert all(p.info.status == "FINISHED" for p in parents), [p.info.status for p in parents]
    assert sorted(r.data.params["neck"] for r in children) == sorted(necks)  # once each
    for run in children:
        assert run.info.status == "FINISHED"
        cell = client.get_run(run.data.tags["mlflow.parentRunId"])  # sweep > cell > trial
        assert cell.data.tags["ablate.role"] == "cell"
        assert cell.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.data.params["seed"] == "0"
        hist = client.get_metric_history(run.info.run_id, "val/top1")
        assert sorted(m.step for m in hist) == [1, 2]


def _sweep_jobs(c: Cluster, name: str, timeout: float = 60) -> dict[str, str]:
    """``{job: status}`` of the sweep's jobs, once every one has ended."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = {
            j["submission_id"]: j["status"]
            for j in c.jobs_list()
            if (j.get("metadata") or {}).get(SWEEP_META) == name
        }
        ended = {"SUCCEEDED", "STOPPED", "FAILED"}
        if set(jobs.values()) <= ended or time.monotonic() > deadline:
            return jobs
        time.sleep(1)


def _assert_no_token(c: Cluster, *texts: str) -> None:
    """The token is in none of the MLflow server's files (database and artifacts) or texts."""
    needle = c.token.encode()
    for path in c.store.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), f"the Ray token leaked into {path}"
    for text in texts:
        assert c.token not in text


def test_local_store_is_refused_before_connecting(cluster: Cluster, tmp_path: Path) -> None:
    sweep = _sweep_dir(
        tmp_path, "refused", "name: refused\n_base_: base.yaml\nsearch: {seeds: [0, 1]}\n"
    )
    before = len(cluster.jobs_list())
    # Nothing listens on these: had ablate tried to connect first, the error would say so.
    port = free_ports(1)[0]
    dead_client, dead_jobs = f"ray://127.0.0.1:{port}", f"http://127.0.0.1:{port}"
    token = {"RAY_AUTH_TOKEN": cluster.token}
    cases = {
        "submit, default store": (("submit", str(sweep), "--address", dead_jobs), token),
        "submit, live cluster": (("submit", str(sweep), "--address", cluster.jobs), token),
        "run ray://, a path": (
            ("run", str(sweep), "--address", dead_client, "--tracking-uri", "x.db"),
            {},
        ),
        "RAY_ADDRESS=ray://": (("run", str(sweep)), {"RAY_ADDRESS": dead_client}),
        "password in the URI": (
            ("submit", str(sweep), "--address", dead_jobs, "--tracking-uri", "http://u:pw@h"),
            token,
        ),
    }
    procs = {k: cluster.start(*args, cwd=tmp_path, **env) for k, (args, env) in cases.items()}
    ran = {k: result(p) for k, p in procs.items()}
    for case, r in ran.items():
        lines = r.err.strip().splitlines()
        assert r.code == 2 and len(lines) == 1, (case, r.err[-2000:])
    for case in ("submit, default store", "submit, live cluster", "run ray://, a path"):
        assert "http(s)://" in ran[case].err, (case, ran[case].err)
    assert "http(s)://" in ran["RAY_ADDRESS=ray://"].err
    assert "Ray Client" in ran["RAY_ADDRESS=ray://"].err
    pw = ran["password in the URI"].err
    assert "password" in pw and "pw@" not in pw, pw
    assert len(cluster.jobs_list()) == before


def test_token_is_required_and_checked(cluster: Cluster, tmp_path: Path) -> None:
    status = ("status", "nope", "--address", cluster.jobs)
    procs = [
        cluster.start(*status, cwd=tmp_path),
        cluster.start(*status, cwd=tmp_path, RAY_AUTH_TOKEN="0" * 32),
        cluster.start(*status, cwd=tmp_path, RAY_AUTH_TOKEN_PATH=str(cluster.token_file)),
    ]
    missing, wrong, right = (result(p) for p in procs)
    assert missing.code == 2 and "needs a token" in missing.err, missing.err
    assert wrong.code == 2 and "refused the token" in wrong.err, wrong.err
    assert right.code == 2 and "no job nope" in right.err, right.err


DDP_SWEEP = """
_base_: base.yaml
custom_imports: {imports: [shipped_neck]}
search:
  model.neck:
    - {type: GlobalAveragePooling}
    - {type: ShippedPooling}
  seeds: [0]
# One CPU per node: the two DDP workers of a trial must span both nodes.
scaling: {num_workers: 2, placement_strategy: SPREAD}
"""

CLIENT_SWEEP = """
name: viaclient
_base_: base.yaml
custom_imports: {imports: [packaged_necks]}
search:
  model.neck:
    - {type: GlobalAveragePooling}
    - {type: PackagedPooling}
  seeds: [0]
"""


@pytest.mark.timeout(1500)  # ~3.5 minutes on an idle 2-core machine
def test_submitted_ddp_sweep_and_a_ray_client_sweep_share_the_cluster(
    cluster: Cluster, tmp_path: Path
) -> None:
    """A submitted 2-node DDP sweep, as a user submits it (from the sweep file's directory,
    the default --storage); while it runs, a sweep through Ray Client; then the same sweep
    submitted again, which runs nothing twice."""
    # The default storage is a fixed path on the head (this machine): a name of its own.
    name = f"ddp-{secrets.token_hex(3)}"
    ddp = _sweep_dir(tmp_path, name, f"name: {name}\n" + DDP_SWEEP)
    viaclient = _sweep_dir(tmp_path, "viaclient", CLIENT_SWEEP)
    storage = str(cluster.root / "storage")
    token = {"RAY_AUTH_TOKEN": cluster.token}
    here = {"cwd": ddp.parent, "home": tmp_path}
    try:
        _submit_twice(cluster, tmp_path, name, ddp, viaclient, storage, token, here)
    finally:
        # <root>/<name>/ and the Ray Train runs <root>/<name>-train-*; the job's report.
        default = Path(DEFAULT_CLUSTER_STORAGE)
        for path in [*default.glob(f"{name}*"), default / "reports" / name]:
            shutil.rmtree(path, ignore_errors=True)
        for empty in (default / "reports", default):
            with contextlib.suppress(OSError):
                empty.rmdir()  # only when nothing else (another sweep) is there


def _submit_twice(  # type: ignore[no-untyped-def]
    cluster: Cluster, tmp_path: Path, name: str, ddp: Path, viaclient: Path, storage, token, here
) -> None:
    # Two submits of the sweep at the same instant: both may pass the check for a running
    # job before either has submitted. One job runs; the other submit exits 2 naming it,
    # having stopped its own job. The token from its file only (ablate turns Ray's token
    # mode on by itself) in one, from the environment in the other.
    pair = [
        cluster.start(
            *("submit", ddp.name, "train.epochs=2", "--address", cluster.jobs),
            *("--tracking-uri", cluster.mlflow),
            **here,
            **auth,
        )
        for auth in ({"RAY_AUTH_TOKEN_PATH": str(cluster.token_file)}, token)
    ]
    ran, lost = sorted((result(p) for p in pair), key=lambda r: r.code)
    assert (ran.code, lost.code) == (0, 2), (ran.err[-3000:], lost.err[-3000:])
    job = ran.out.strip()
    assert job.startswith(f"ablate-{name}-") and "\n" not in job, ran.out
    assert f"already running on this cluster as job {job}" in lost.err, lost.err
    assert len(lost.err.strip().splitlines()) == 1 and not lost.out, (lost.out, lost.err)

    # While it runs: a second driver on the same sweep would fight over its Tune state...
    again = cluster.start(
        *("submit", ddp.name, "--address", cluster.jobs, "--tracking-uri", cluster.mlflow),
        **here,
        **token,
    )
    # ...and another sweep, through Ray Client, shares the cluster.
    client_run = cluster.ablate(
        *("run", str(viaclient), "--address", cluster.client),
        *("--tracking-uri", cluster.mlflow, "--storage", storage),
        cwd=tmp_path,
        timeout=900,
        **token,
    )
    refused = result(again)
    assert refused.code == 2, refused.err
    assert f"already running on this cluster as job {job}" in refused.err

    assert client_run.code == 0, (client_run.out[-3000:], client_run.err[-3000:])
    assert "2 of 2 trials finished" in client_run.out
    assert "up to 2 at once" in client_run.out  # one inline trial per node
    assert "ablate-run-" not in client_run.out  # the head's own report path is not shown
    report = tmp_path / "reports" / "viaclient" / "report.md"
    assert report.is_file()
    _check_trials(cluster, "viaclient", {"GlobalAveragePooling", "PackagedPooling"})

    waited = cluster.ablate(
        "status", job, "--wait", "--address", cluster.jobs, cwd=tmp_path, timeout=900, **token
    )
    logs = cluster.ablate("logs", job, "--address", cluster.jobs, cwd=tmp_path, **token)
    # Before the fix: FAILED, FileNotFoundError from os.path.relpath in Tune's
    # ExperimentAnalysis, the driver's working directory replaced by the second node.
    assert waited.code == 0, (waited.out, logs.out[-5000:])
    assert "SUCCEEDED" in waited.out and f"sweep {name}" in waited.out
    assert "2 of 2 trials finished" in logs.out, logs.out[-5000:]
    assert "Ray Train, 2 CPU workers" in logs.out
    info = cluster.http(f"{cluster.jobs}/api/jobs/{job}")
    assert info["entrypoint"].startswith(
        f"python -m ablate.cli run {name}.yaml --name {name} --tracking-uri {cluster.mlflow} "
        f"--storage {DEFAULT_CLUSTER_STORAGE}"
    )
    assert info["runtime_env"]["env_vars"] == {
        "RAY_CHDIR_TO_TRIAL_DIR": "0",
        "PYTHONUNBUFFERED": "1",
        "ABLATE_PLUGINS": "ablate_components",
    }
    _check_trials(cluster, name, {"GlobalAveragePooling", "ShippedPooling"})

    # Submitted again: it succeeds and trains nothing twice.
    second = cluster.ablate(
        *("submit", ddp.name, "--address", cluster.jobs, "--tracking-uri", cluster.mlflow),
        **here,
        **token,
    )
    assert second.code == 0, second.err[-3000:]
    job2 = second.out.strip()
    waited2 = cluster.ablate(
        "status", job2, "--wait", "--address", cluster.jobs, cwd=tmp_path, timeout=600, **token
    )
    logs2 = cluster.ablate("logs", job2, "--address", cluster.jobs, cwd=tmp_path, **token)
    assert waited2.code == 0 and "SUCCEEDED" in waited2.out, (waited2.out, logs2.out[-5000:])
    assert "nothing new to run" in logs2.out, logs2.out[-3000:]
    _check_trials(cluster, name, {"GlobalAveragePooling", "ShippedPooling"}, invocations=2)
    # Of the sweep's jobs, the two that ran succeeded; a racing submit's own job (if it got
    # one in) was stopped.
    ended = _sweep_jobs(cluster, name)
    assert sorted(ended.values()).count("SUCCEEDED") == 2, ended
    assert set(ended.values()) <= {"SUCCEEDED", "STOPPED"}, ended

    # The token is nowhere in the MLflow server's files, the reports, the job or the output.
    texts = [client_run.out, client_run.err, report.read_text(), json.dumps(info), logs.out]
    _assert_no_token(cluster, *texts, waited.out, logs2.out)
