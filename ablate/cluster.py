"""Sweeps on a Ray cluster: ``ablate submit``, ``status`` and ``logs`` (Ray Jobs), and
``ablate run --address ray://`` (Ray Client).

Both ways run the whole ablate driver, Tune and the tracker, on the cluster's head node:

- ``submit`` stages the sweep's fully merged config (``_base_`` resolved, overrides applied)
  in the job's ``working_dir`` and ships ``ablate``, ``components`` and every ``custom_imports``
  plugin (:func:`shipped_code`), so the cluster runs this machine's code. The job's entrypoint
  is ``python -m ablate.cli run <name>.yaml --name N --tracking-uri URI --storage DIR``.
- ``run --address ray://`` ships the same code through Ray Client and runs ``ablate run`` in
  a task pinned to the head node; its output is streamed back through a queue. Ray Client
  would run Tune's driver on the cluster anyway: running ablate's driver there too keeps the
  tracker, Tune's experiment state and the resume check on the same side.

Hence two rules, checked before anything connects:

- the tracking store must be an MLflow server the cluster can reach (``http(s)://``): a
  ``sqlite:`` or file store would be written on the head node, not here;
- trial state lives on the cluster (``--storage``, default ``/tmp/ablate`` on the head); a
  multi-node sweep needs it on a filesystem every node mounts at the same path.

Secrets stay out of what ships: the runtime env carries no environment of this machine,
the cluster's Ray token is the cluster's, and a tracking URI with a password is refused.
Ray is imported lazily, so ``ablate --help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import io
import logging
import os
import re
import secrets
import shlex
import shutil
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from ablate.errors import AblateError

#: Where trial state goes on a cluster when ``--storage`` is not given (on the head node).
DEFAULT_CLUSTER_STORAGE = "/tmp/ablate"
TOKEN_ENV, TOKEN_PATH_ENV, MODE_ENV = "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"
DEFAULT_TOKEN_FILE = Path("~/.ray/auth_token")
SWEEP_META = "ablate.sweep"
EXCLUDES = ["__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".pytest_cache", ".ruff_cache"]
#: What every process of a shipped sweep needs; nothing of this machine's environment.
SHIPPED_ENV = {"RAY_CHDIR_TO_TRIAL_DIR": "0", "PYTHONUNBUFFERED": "1"}
EXIT_INTERRUPTED = 130
AGENT_WAIT_S = 120.0


# --- addresses, the tracking rule, the token ---------------------------------------------------


def client_address(address: str | None) -> str | None:
    """The Ray Client address ``ablate run`` was given (``--address``, else ``RAY_ADDRESS``)."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    return address if address and address.startswith("ray://") else None


def require_server_store(uri: str | None, where: str) -> str:
    """The tracking URI, when an MLflow server the cluster can reach could be it.

    Raises:
        AblateError: a local store (``sqlite:``, ``file:``, a path, or the default), or a URI
            carrying a password.
    """
    from ablate.tracking import is_server, shown, tracking_uri

    resolved = tracking_uri(uri)
    if not is_server(resolved):
        raise AblateError(
            f"the tracking store {shown(resolved)} is a file on this machine, but {where} runs "
            "the sweep's driver on the cluster, where it would be written on the head node",
            hint="use --tracking-uri http(s)://HOST:PORT (or MLFLOW_TRACKING_URI), "
            "an MLflow server the cluster can reach",
        )
    if re.match(r"^https?://[^/@]*:[^/@]*@", resolved):
        raise AblateError(
            f"the tracking URI {shown(resolved)} carries a password, which would be shipped "
            "in the job's command line and recorded",
            hint="set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD "
            "(or MLFLOW_TRACKING_TOKEN) in the cluster's environment instead",
        )
    return resolved


def enable_token_auth() -> bool:
    """Send the cluster's token when this machine has one.

    Ray's clients send a token only under ``RAY_AUTH_MODE=token``; without it a token-auth
    cluster answers 401 (Jobs) or lets Ray Client time out after 30 s. The token itself is
    read by Ray from ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``;
    ablate never reads, ships or logs it. An explicit ``RAY_AUTH_MODE`` is left alone.
    """
    if MODE_ENV in os.environ:
        return os.environ[MODE_ENV].lower() == "token"
    if not (
        os.environ.get(TOKEN_ENV)
        or os.environ.get(TOKEN_PATH_ENV)
        or DEFAULT_TOKEN_FILE.expanduser().is_file()
    ):
        return False
    os.environ[MODE_ENV] = "token"
    _reread_ray_config()
    return True


def _reread_ray_config() -> None:
    if "ray._raylet" in sys.modules:  # Ray read its config already: have it read it again
        from ray._raylet import Config  # type: ignore[attr-defined]

        Config.initialize("")


def _auth_error(address: str, err: BaseException) -> AblateError:
    text = str(err)
    refused = text.startswith("Authentication failed") or "Forbidden" in text  # 403, not 401
    return AblateError(
        f"the Ray cluster at {address} "
        + ("refused the token" if refused else "needs a token and none was sent"),
        hint=f"set {TOKEN_ENV} or {TOKEN_PATH_ENV} (or put it in ~/.ray/auth_token)",
    )


# --- what ships --------------------------------------------------------------------------------


def _module_path(mod: ModuleType) -> str | None:
    paths = list(getattr(mod, "__path__", []) or [])
    if paths:
        return str(paths[0]) if len(paths) == 1 else None
    return getattr(mod, "__file__", None)


def _installed(path: str) -> bool:
    """In site-packages or the standard library: the cluster installs its own."""
    import site

    roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib", "platstdlib")}
    roots |= set(site.getsitepackages()) | {site.getusersitepackages()}
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(Path(r).resolve()) for r in roots if r)


def shipped_code(imports: Iterable[str]) -> tuple[list[str], list[str]]:
    """What a cluster needs of this machine's code: ``(packages, files)``.

    ``packages`` are directories for ``py_modules``: ``ablate``, ``components`` and each
    plugin's top-level package that is not an installed package. ``files`` are single-file
    plugin modules; the Jobs API ships only directories as ``py_modules``, so these go into
    the staged ``working_dir``, which is on the cluster's ``PYTHONPATH`` too.

    Raises:
        AblateError: a plugin is a namespace package spread over several directories.
    """
    import ablate
    import components

    packages = [_module_path(ablate), _module_path(components)]
    files: list[str] = []
    for name in imports:
        top = name.split(".")[0]
        if top in ("ablate", "components"):
            continue
        mod = sys.modules.get(top) or importlib.import_module(top)
        path = _module_path(mod)
        if path is None:
            raise AblateError(
                f"cannot ship the plugin package '{top}': it spans several directories "
                f"({', '.join(map(str, mod.__path__))})",
                key="custom_imports",
                hint="give it an __init__.py, or install it on the cluster",
            )
        if _installed(path):
            continue
        (packages if hasattr(mod, "__path__") else files).append(path)
    return list(dict.fromkeys(str(p) for p in packages if p)), list(dict.fromkeys(files))


def staged_config(data: dict[str, Any], name: str) -> str:
    """The fully merged sweep as YAML: no ``_base_`` left to resolve on the cluster."""
    import yaml

    body = {k: v for k, v in data.items() if k != "_base_"}
    return yaml.safe_dump({"name": name, **{k: v for k, v in body.items() if k != "name"}})


def stage(plan: Any) -> tuple[Path, dict[str, Any]]:
    """A fresh staging directory (the sweep as ``<name>.yaml``, single-file plugins) and the
    runtime env that ships it with the code: nothing of this machine's environment."""
    packages, files = shipped_code(plan.imports)
    where = Path(tempfile.mkdtemp(prefix="ablate-stage-"))
    (where / f"{plan.name}.yaml").write_text(staged_config(plan.cfg.data, plan.name))
    for f in files:
        shutil.copy2(f, where / Path(f).name)
    env = {
        "working_dir": str(where),
        "py_modules": packages,
        "excludes": list(EXCLUDES),
        "env_vars": dict(SHIPPED_ENV),
    }
    return where, env


def run_argv(path: str, plan: Any, uri: str, args: argparse.Namespace) -> list[str]:
    """``ablate run`` as the cluster runs it.

    Raises:
        AblateError: a relative ``--storage``: it would resolve in the job's scratch directory.
    """
    storage = args.storage or DEFAULT_CLUSTER_STORAGE
    if "://" not in storage and not storage.startswith("/"):
        raise AblateError(
            f"--storage {storage} is relative, but it names a directory on the cluster",
            hint=f"give an absolute path every node can reach (default {DEFAULT_CLUSTER_STORAGE})",
        )
    argv = ["run", path, "--name", plan.name, "--tracking-uri", uri, "--storage", storage]
    if args.max_concurrent:
        argv += ["--max-concurrent", str(args.max_concurrent)]
    for flag in ("rerun_all", "rerun_changed_code"):  # incremental runs, as on this machine
        if getattr(args, flag, False):
            argv.append("--" + flag.replace("_", "-"))
    return argv


def _checked_plan(args: argparse.Namespace) -> Any:
    from ablate.cli import _check_builds, _load_plan

    plan = _load_plan(args)
    _check_builds(plan)
    return plan


# --- Ray Jobs: submit, status, logs ------------------------------------------------------------


def jobs_address(address: str | None) -> str:
    """``--address``, else ``RAY_API_SERVER_ADDRESS``, else an ``http(s)`` ``RAY_ADDRESS``."""
    env = os.environ.get("RAY_ADDRESS", "")
    address = (
        address
        or os.environ.get("RAY_API_SERVER_ADDRESS")
        or (env if env.startswith(("http://", "https://")) else None)
    )
    if not address:
        raise AblateError(
            "no cluster address",
            hint="give --address http://HOST:8265 (the Ray dashboard), "
            "or set RAY_API_SERVER_ADDRESS",
        )
    if address.startswith("ray://"):
        raise AblateError(
            f"{address} is a Ray Client address; jobs go through the Jobs API on the "
            "dashboard's port",
            hint="give --address http://HOST:8265",
        )
    return address


def job_client(address: str | None) -> Any:
    """A ``JobSubmissionClient`` that has answered once.

    Raises:
        AblateError: no address, an unreachable cluster, or a missing or refused token.
    """
    address = jobs_address(address)
    enable_token_auth()
    try:
        from ray.exceptions import AuthenticationError
        from ray.job_submission import JobSubmissionClient
    except ImportError as err:  # pragma: no cover - a minimal Ray install
        raise AblateError(
            f"the Ray Jobs client is not installed ({err})", hint="pip install 'ray[default]'"
        ) from None
    # Not a line per uploaded package and per closed log stream: these loggers set INFO.
    for name in ("ray", "ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return JobSubmissionClient(address)
    except AuthenticationError as err:
        raise _auth_error(address, err) from None
    except (ConnectionError, RuntimeError, OSError) as err:
        raise AblateError(
            f"cannot reach the Ray Jobs API at {address}: {_one_line(err)}",
            hint="check --address (the dashboard, usually port 8265)",
        ) from None


def _one_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[0][:300] if lines else type(err).__name__


def _running_job(client: Any, name: str) -> Any:
    for job in client.list_jobs():
        if (job.metadata or {}).get(SWEEP_META) == name and not job.status.is_terminal():
            return job
    return None


def submit(args: argparse.Namespace) -> int:
    """``ablate submit``: the sweep as a Ray Job. Prints the job id (alone on stdout)."""
    from ablate.tracking import shown

    uri = require_server_store(args.tracking_uri, "a Ray Job")
    plan = _checked_plan(args)
    entrypoint = shlex.join(
        ["python", "-m", "ablate.cli", *run_argv(f"{plan.name}.yaml", plan, uri, args)]
    )
    client = job_client(args.address)
    running = _running_job(client, plan.name)
    if running is not None:
        raise AblateError(
            f"sweep '{plan.name}' is already running on this cluster as job "
            f"{running.submission_id} ({running.status.value})",
            hint="two drivers on one sweep would fight over its Tune state; wait for it "
            f"(ablate status {running.submission_id} --wait) or stop it",
        )
    job_id = f"ablate-{plan.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    staged, env = stage(plan)
    deadline = time.monotonic() + AGENT_WAIT_S
    try:
        while True:
            try:
                client.submit_job(
                    entrypoint=entrypoint,
                    submission_id=job_id,
                    runtime_env=env,
                    metadata={SWEEP_META: plan.name, "ablate.tracking_uri": shown(uri)},
                )
                break
            except RuntimeError as err:
                # A cluster that has just started answers before its job agent is up.
                if "No available agent" in str(err) and time.monotonic() < deadline:
                    time.sleep(2.0)
                    continue
                raise AblateError(f"the cluster did not take the job: {_one_line(err)}") from None
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # uploaded: the cluster has its copy
    print(job_id, flush=True)
    print(
        f"submitted sweep '{plan.name}' ({len(plan.trials) or plan.tune.num_samples} trials) "
        f"as job {job_id}; follow it with: ablate logs {job_id} --follow",
        file=sys.stderr,
    )
    if args.follow:
        return _follow(client, job_id)
    return 0


def job_exit_code(info: Any) -> int:
    """A finished job's result as ablate's exit codes: the sweep's own code when it ran."""
    status = str(getattr(info.status, "value", info.status))
    if status == "FAILED":
        code = info.driver_exit_code
        return code if isinstance(code, int) and 0 < code < 256 else 1
    if status == "STOPPED":
        return EXIT_INTERRUPTED
    return 0


def _job_info(client: Any, job_id: str) -> Any:
    try:
        return client.get_job_info(job_id)
    except RuntimeError as err:
        raise AblateError(f"no job {job_id} on this cluster ({_one_line(err)})") from None


def _describe(info: Any) -> str:
    meta = info.metadata or {}
    status = getattr(info.status, "value", info.status)
    parts = [f"{info.submission_id or info.job_id}: {status}"]
    if SWEEP_META in meta:
        parts.append(f"sweep {meta[SWEEP_META]}, tracking {meta.get('ablate.tracking_uri', '?')}")
    if info.message:
        parts.append(_one_line(Exception(info.message)))
    return " | ".join(parts)


def status(args: argparse.Namespace) -> int:
    """``ablate status``: one line; with ``--wait``, once the job has ended.

    Exit code: 0 while pending or running and when it succeeded; the sweep's own code when
    it failed (1 some trials failed, 2 bad input, 3 all failed, ...); 130 when stopped.
    """
    client = job_client(args.address)
    info = _job_info(client, args.job)
    while args.wait and not info.status.is_terminal():
        time.sleep(args.poll)
        info = _job_info(client, args.job)
    print(_describe(info))
    return job_exit_code(info) if info.status.is_terminal() else 0


def logs(args: argparse.Namespace) -> int:
    """``ablate logs``: the job's output so far; with ``--follow``, until it ends."""
    client = job_client(args.address)
    _job_info(client, args.job)
    if args.follow:
        return _follow(client, args.job)
    sys.stdout.write(client.get_job_logs(args.job))
    return 0


def _follow(client: Any, job_id: str) -> int:
    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            sys.stdout.write(chunk)
            sys.stdout.flush()

    try:
        asyncio.run(tail())
    except RuntimeError as err:  # the stream closed before the job ended
        print(f"warning: log stream ended: {_one_line(err)}", file=sys.stderr)
    info = _job_info(client, job_id)
    while not info.status.is_terminal():
        time.sleep(1.0)
        info = _job_info(client, job_id)
    print(_describe(info), file=sys.stderr)
    return job_exit_code(info)


# --- Ray Client: ablate run --address ray://... ------------------------------------------------


class _QueueWriter(io.TextIOBase):
    """A text stream that hands each line to a Ray queue as ``(stream, line)`` (and keeps a
    copy in the worker's log).

    Lines starting with ``hide`` stay in the log only (the report the head wrote: the client
    writes its own and prints that path).
    """

    def __init__(self, queue: Any, stream: str, hide: str = "\0") -> None:
        self.queue, self.stream, self.hide, self.buf = queue, stream, hide, ""
        self.echo = sys.__stdout__ if stream == "out" else sys.__stderr__

    def write(self, text: str) -> int:
        if self.echo is not None:
            self.echo.write(text)
        self.buf += text
        *lines, self.buf = self.buf.split("\n")
        shown = [(self.stream, ln) for ln in lines if not ln.startswith(self.hide)]
        if shown:
            self.queue.put_nowait_batch(shown)
        return len(text)

    def flush(self) -> None:
        if self.echo is not None:
            self.echo.flush()
        if self.buf:
            self.queue.put_nowait((self.stream, self.buf))
            self.buf = ""


def _run_on_head(yaml_text: str, name: str, argv: list[str], queue: Any) -> int:
    """A Ray task on the head node: ``ablate run`` on the staged sweep, output to ``queue``."""
    from contextlib import redirect_stderr, redirect_stdout

    from ablate.cli import main

    where = Path(tempfile.mkdtemp(prefix="ablate-run-"))
    path = where / f"{name}.yaml"
    path.write_text(yaml_text)
    cwd, argv0 = os.getcwd(), sys.argv
    os.chdir(where)
    full = [argv[0], str(path), *argv[2:], "--reports", str(where / "reports")]
    sys.argv = ["ablate", *full]  # what the tracker records as the command
    hide = f"report: {where}"
    out, err = _QueueWriter(queue, "out", hide), _QueueWriter(queue, "err")
    try:
        with redirect_stdout(out), redirect_stderr(err):
            return main(full)
    finally:
        out.flush()
        err.flush()
        # The report is in MLflow (the parent run's artifacts), and the client writes its own.
        os.chdir(cwd)
        sys.argv = argv0
        shutil.rmtree(where, ignore_errors=True)


def run_on_cluster(args: argparse.Namespace) -> int:
    """``ablate run --address ray://HOST:10001``: the sweep runs on the cluster, its output
    comes back here, and the report is written here from the tracking store."""
    from ablate.cli import _sweep_report
    from ablate.sweep import connect
    from ablate.tracking import open_store

    address = client_address(args.address)
    assert address is not None
    uri = require_server_store(args.tracking_uri, "Ray Client")
    plan = _checked_plan(args)
    store = open_store(uri)  # it must answer before the cluster does any work
    enable_token_auth()
    staged, env = stage(plan)
    try:
        connect(address, runtime_env=env)  # uploads what ships
    finally:
        shutil.rmtree(staged, ignore_errors=True)

    import ray
    from ray.util.queue import Empty, Queue
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    head = ray.get_runtime_context().get_node_id()  # Ray Client's server runs on the head
    queue = Queue(actor_options={"num_cpus": 0})
    task = ray.remote(num_cpus=0, max_retries=0)(_run_on_head).options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(head, soft=False)
    )
    argv = run_argv("<staged>", plan, uri, args)
    ref = task.remote(staged_config(plan.cfg.data, plan.name), plan.name, argv, queue)

    def drain() -> None:
        try:
            lines = queue.get_nowait_batch(queue.qsize())
        except Empty:
            return
        for stream, line in lines:
            print(line, file=sys.stdout if stream == "out" else sys.stderr, flush=True)

    code = EXIT_INTERRUPTED
    try:
        while not ray.wait([ref], timeout=0.5)[0]:
            drain()
        code = int(ray.get(ref))
    except KeyboardInterrupt:
        ray.cancel(ref)  # KeyboardInterrupt in the task: the tracker ends its runs KILLED
        with contextlib.suppress(KeyboardInterrupt):
            ray.wait([ref], timeout=30)
        raise
    finally:
        drain()
    if code in (0, 1):
        _sweep_report(store, plan.name, args.reports)
    return code
