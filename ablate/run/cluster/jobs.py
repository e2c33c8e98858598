"""Ray Jobs: a sweep submitted to a cluster, and its state and output afterwards.

A job's driver is ``ablate run`` itself, on the head node, on the staged sweep
(:mod:`.ship`); its exit code is the sweep's, which :func:`job_exit_code` hands back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Any

from ablate.errors import AblateError, ExitCode, first_line
from ablate.run.session import auth_error, enable_token_auth

#: The job metadata that marks a job as a sweep, and the tracking store it writes to.
SWEEP_META, TRACKING_META = "ablate.sweep", "ablate.tracking_uri"
AGENT_WAIT_S = 120.0


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
        raise auth_error(address, err) from None
    except (ConnectionError, RuntimeError, OSError) as err:
        raise AblateError(
            f"cannot reach the Ray Jobs API at {address}: {first_line(err, limit=300)}",
            hint="check --address (the dashboard, usually port 8265)",
        ) from None


def running_jobs(client: Any, sweep: str) -> list[Any]:
    """The jobs of ``sweep`` that have not ended yet, first submitted first."""
    jobs = [
        job
        for job in client.list_jobs()
        if (job.metadata or {}).get(SWEEP_META) == sweep and not job.status.is_terminal()
    ]
    return sorted(jobs, key=lambda j: (j.start_time or 0, j.submission_id or ""))


def running_job(client: Any, sweep: str) -> Any:
    """The job of ``sweep`` that has not ended yet, or None."""
    jobs = running_jobs(client, sweep)
    return jobs[0] if jobs else None


def first_of_sweep(client: Any, sweep: str, job_id: str) -> Any:
    """After submitting ``job_id``: the job of the same sweep submitted before it, if any
    (two submits racing both pass the check before submitting; the later one yields)."""
    for job in running_jobs(client, sweep):
        return None if job.submission_id == job_id else job
    return None


def submit_job(
    client: Any, job_id: str, entrypoint: str, runtime_env: dict[str, Any], meta: dict[str, str]
) -> None:
    """Submit, waiting up to :data:`AGENT_WAIT_S` for a just-started cluster's job agent.

    Raises:
        AblateError: the cluster did not take the job.
    """
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            client.submit_job(
                entrypoint=entrypoint,
                submission_id=job_id,
                runtime_env=runtime_env,
                metadata=meta,
            )
            return
        except RuntimeError as err:
            # A cluster that has just started answers before its job agent is up.
            if "No available agent" in str(err) and time.monotonic() < deadline:
                time.sleep(2.0)
                continue
            raise AblateError(
                f"the cluster did not take the job: {first_line(err, limit=300)}"
            ) from None


def job_exit_code(info: Any) -> int:
    """A finished job's result as ablate's exit codes: the sweep's own code when it ran."""
    status = str(getattr(info.status, "value", info.status))
    if status == "FAILED":
        code = info.driver_exit_code
        return code if isinstance(code, int) and 0 < code < 256 else ExitCode.SOME_FAILED
    if status == "STOPPED":
        return ExitCode.INTERRUPTED
    return ExitCode.OK


def job_info(client: Any, job_id: str) -> Any:
    try:
        return client.get_job_info(job_id)
    except RuntimeError as err:
        raise AblateError(
            f"no job {job_id} on this cluster ({first_line(err, limit=300)})"
        ) from None


def describe_job(info: Any) -> str:
    """``<id>: <status> | sweep <name>, tracking <uri> | <message>``."""
    meta = info.metadata or {}
    status = getattr(info.status, "value", info.status)
    parts = [f"{info.submission_id or info.job_id}: {status}"]
    if SWEEP_META in meta:
        parts.append(f"sweep {meta[SWEEP_META]}, tracking {meta.get(TRACKING_META, '?')}")
    if info.message:
        parts.append(first_line(info.message, limit=300))
    return " | ".join(parts)


def wait_for(client: Any, job_id: str, poll_s: float) -> Any:
    """The job's info once it has ended."""
    info = job_info(client, job_id)
    while not info.status.is_terminal():
        time.sleep(poll_s)
        info = job_info(client, job_id)
    return info


def follow(client: Any, job_id: str) -> int:
    """Stream the job's output until it ends; its exit code."""

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            sys.stdout.write(chunk)
            sys.stdout.flush()

    try:
        asyncio.run(tail())
    except RuntimeError as err:  # the stream closed before the job ended
        print(f"warning: log stream ended: {first_line(err, limit=300)}", file=sys.stderr)
    info = wait_for(client, job_id, 1.0)
    print(describe_job(info), file=sys.stderr)
    return job_exit_code(info)


__all__ = [
    "SWEEP_META",
    "TRACKING_META",
    "describe_job",
    "first_of_sweep",
    "follow",
    "job_client",
    "job_exit_code",
    "job_info",
    "jobs_address",
    "running_job",
    "running_jobs",
    "submit_job",
    "wait_for",
]
