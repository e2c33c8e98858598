"""The cluster use cases: ``ablate submit`` / ``status`` / ``logs`` (Ray Jobs) and
``ablate run --address ray://`` (Ray Client). Both run the same driver as a local
``ablate run`` on the cluster's head node:

- ``submit`` ships the fully merged sweep and the code (:mod:`ablate.run.cluster.ship`); the
  job's entrypoint is ``python -m ablate.cli run <name>.yaml --name N --tracking-uri URI
  --storage DIR``, a plain ``ablate run`` there.
- ``run --address ray://`` ships the same, and :func:`ablate.run.cluster.client.run_on_head`
  calls :func:`run_on_head` below, which calls :func:`ablate.app.sweep.run_here`: the same
  use case as a local run, no command line re-parsed. Its output streams back; the report
  is written here.

Two rules, checked before anything connects: the tracking store must be an MLflow server
the cluster can reach (a ``sqlite:`` or file store would be written on the head node), and
trial state lives on the cluster (``--storage``, default ``/tmp/ablate`` on the head).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ablate.app.options import JobOptions, SweepOptions
from ablate.app.sweep import checked_plan, command_line, run_here, write_report
from ablate.console import guarded
from ablate.errors import AblateError, ExitCode
from ablate.layout import DEFAULT_CLUSTER_STORAGE
from ablate.run.cluster import jobs
from ablate.run.cluster.client import run_on_head as run_remotely
from ablate.run.cluster.ship import stage, staged_config
from ablate.run.session import client_address
from ablate.tracking import is_server, open_store, shown, tracking_uri


def require_server_store(uri: str | None, where: str) -> str:
    """The tracking URI, when an MLflow server the cluster can reach could be it.

    Raises:
        AblateError: a local store (``sqlite:``, ``file:``, a path, or the default), or a URI
            carrying a password.
    """
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


def cluster_storage(opts: SweepOptions) -> str:
    """``--storage`` as the cluster sees it.

    Raises:
        AblateError: a relative path: it would resolve in the job's scratch directory.
    """
    storage = opts.storage or DEFAULT_CLUSTER_STORAGE
    if "://" not in storage and not storage.startswith("/"):
        raise AblateError(
            f"--storage {storage} is relative, but it names a directory on the cluster",
            hint=f"give an absolute path every node can reach (default {DEFAULT_CLUSTER_STORAGE})",
        )
    return storage


def run_argv(path: str, name: str, uri: str, opts: SweepOptions) -> list[str]:
    """``ablate run`` as the cluster runs it: a submitted job's entrypoint, and the command a
    Ray Client sweep records."""
    argv = ["run", path, "--name", name, "--tracking-uri", uri]
    argv += ["--storage", cluster_storage(opts)]
    if opts.max_concurrent:
        argv += ["--max-concurrent", str(opts.max_concurrent)]
    if opts.rerun_all:  # incremental runs, as on this machine
        argv.append("--rerun-all")
    if opts.rerun_changed_code:
        argv.append("--rerun-changed-code")
    return argv


# --- Ray Jobs ------------------------------------------------------------------------------------


def submit_sweep(opts: SweepOptions) -> int:
    """``ablate submit``: the sweep as a Ray Job. Prints the job id (alone on stdout)."""
    uri = require_server_store(opts.tracking_uri, "a Ray Job")
    plan, _ = checked_plan(opts)
    entrypoint = shlex.join(
        ["python", "-m", "ablate.cli", *run_argv(f"{plan.name}.yaml", plan.name, uri, opts)]
    )
    client = jobs.job_client(opts.address)
    _refuse_running(plan.name, jobs.running_job(client, plan.name))
    job_id = f"ablate-{plan.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    staged, env = stage(plan)
    try:
        meta = {jobs.SWEEP_META: plan.name, jobs.TRACKING_META: shown(uri)}
        jobs.submit_job(client, job_id, entrypoint, env, meta)
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # uploaded: the cluster has its copy
    first = jobs.first_of_sweep(client, plan.name, job_id)
    if first is not None:  # another submit of this sweep got in just before this one
        client.stop_job(job_id)
        _refuse_running(plan.name, first)
    print(job_id, flush=True)
    print(
        f"submitted sweep '{plan.name}' ({plan.num_trials} trials) "
        f"as job {job_id}; follow it with: ablate logs {job_id} --follow",
        file=sys.stderr,
    )
    if opts.follow:
        return jobs.follow(client, job_id)
    return ExitCode.OK


def _refuse_running(sweep: str, running: object) -> None:
    """Exit 2 when a job of this sweep is running: two drivers of one sweep would train
    the same trials (its driver also holds the sweep's lease in the tracking store)."""
    if running is None:
        return
    job = running.submission_id  # type: ignore[attr-defined]
    raise AblateError(
        f"sweep '{sweep}' is already running on this cluster as job {job} ({running.status.value})",  # type: ignore[attr-defined]
        hint=f"wait for it (ablate status {job} --wait) or stop it",
    )


def job_status(opts: JobOptions) -> int:
    """``ablate status``: one line; with ``--wait``, once the job has ended.

    Exit code: 0 while pending or running and when it succeeded; the sweep's own code when
    it failed (1 some trials failed, 2 bad input, 3 all failed, ...); 130 when stopped.
    """
    client = jobs.job_client(opts.address)
    info = (
        jobs.wait_for(client, opts.job, opts.poll_s)
        if opts.wait
        else jobs.job_info(client, opts.job)
    )
    print(jobs.describe_job(info))
    return jobs.job_exit_code(info) if info.status.is_terminal() else ExitCode.OK


def job_logs(opts: JobOptions) -> int:
    """``ablate logs``: the job's output so far; with ``--follow``, until it ends."""
    client = jobs.job_client(opts.address)
    jobs.job_info(client, opts.job)
    if opts.follow:
        return jobs.follow(client, opts.job)
    sys.stdout.write(client.get_job_logs(opts.job))
    return ExitCode.OK


# --- Ray Client ----------------------------------------------------------------------------------

#: The prefix of the directory the head keeps a Ray Client sweep's staged file and report
#: in while it runs (in the head's temporary directory).
HEAD_SCRATCH = "ablate-run-"


def run_through_client(opts: SweepOptions) -> int:
    """``ablate run --address ray://HOST:10001``: the sweep runs on the cluster, its output
    comes back here, and the report is written here from the tracking store."""
    address = client_address(opts.address)
    assert address is not None
    uri = require_server_store(opts.tracking_uri, "Ray Client")
    plan, _ = checked_plan(opts)
    storage = cluster_storage(opts)
    store = open_store(uri)  # it must answer before the cluster does any work
    head_opts = dataclasses.replace(
        opts, address=None, name=plan.name, tracking_uri=uri, storage=storage, overrides=()
    )
    staged, env = stage(plan)
    try:
        # The head's report line names a path there; the client writes its own report.
        hide = "report: {tmp}" + os.sep + HEAD_SCRATCH
        code = run_remotely(
            address, env, run_on_head, staged_config(plan.cfg.data, plan.name), head_opts, hide=hide
        )
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    if code in (ExitCode.OK, ExitCode.SOME_FAILED):
        write_report(store, plan.name, opts.reports)
    return code


@contextlib.contextmanager
def _in_dir(where: Path) -> Iterator[None]:
    """The staged sweep runs from its own directory, as a submitted job's does."""
    cwd = os.getcwd()
    os.chdir(where)
    try:
        yield
    finally:
        os.chdir(cwd)


def run_on_head(yaml_text: str, opts: SweepOptions) -> int:
    """On the head node (a Ray task): the staged sweep through the local ``run_here``.

    The report it writes stays in the tracking store (the parent run's artifacts); the
    client writes its own copy. The recorded command is ``ablate run`` as the head runs it.
    """
    where = Path(tempfile.mkdtemp(prefix=HEAD_SCRATCH))
    path = where / f"{opts.name}.yaml"
    path.write_text(yaml_text)
    reports = str(where / "reports")
    assert opts.name is not None and opts.tracking_uri is not None
    argv = [*run_argv(str(path), opts.name, opts.tracking_uri, opts), "--reports", reports]
    here = dataclasses.replace(
        opts,
        sweep=str(path),
        reports=reports,
        command=command_line(["ablate", *argv]),
        quiet=False,
    )
    try:
        with _in_dir(where):
            return guarded(run_here, here)
    finally:
        shutil.rmtree(where, ignore_errors=True)


__all__ = [
    "job_logs",
    "job_status",
    "require_server_store",
    "run_argv",
    "run_on_head",
    "run_through_client",
    "submit_sweep",
]
