"""The Ray session: start a local Ray or connect to a cluster, what its nodes hold, and the
cluster's token.

Ray is imported inside these functions only, so ``ablate --help`` never pays for it.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from ablate.errors import AblateError
from ablate.run import warm

TOKEN_ENV, TOKEN_PATH_ENV, MODE_ENV = "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"
DEFAULT_TOKEN_FILE = Path("~/.ray/auth_token")


def client_address(address: str | None) -> str | None:
    """The Ray Client address ``ablate run`` was given (``--address``, else ``RAY_ADDRESS``)."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    return address if address and address.startswith("ray://") else None


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


def auth_error(address: str, err: BaseException) -> AblateError:
    """A refused or missing token, as the one line a person can act on."""
    text = str(err)
    refused = text.startswith("Authentication failed") or "Forbidden" in text  # 403, not 401
    return AblateError(
        f"the Ray cluster at {address} "
        + ("refused the token" if refused else "needs a token and none was sent"),
        hint=f"set {TOKEN_ENV} or {TOKEN_PATH_ENV} (or put it in ~/.ray/auth_token)",
    )


def worker_env() -> dict[str, str]:
    """Environment for Ray workers: keep the driver's working directory for relative paths."""
    return {"RAY_CHDIR_TO_TRIAL_DIR": "0", "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def connect(
    address: str | None,
    *,
    env: dict[str, str] | None = None,
    runtime_env: dict[str, Any] | None = None,
) -> None:
    """Start a local Ray, or connect to ``address`` (or ``RAY_ADDRESS``).

    ``runtime_env`` replaces the default one (this machine's ``sys.path`` as ``PYTHONPATH``):
    through Ray Client the cluster cannot see this machine's files and gets code as
    ``py_modules`` (:mod:`ablate.run.cluster.ship`).
    """
    import ray

    if ray.is_initialized():
        return
    if address or os.environ.get("RAY_ADDRESS", "").startswith("ray://"):
        # Ray's clients send the cluster's token only in token mode. (A job's driver, given
        # its cluster by RAY_ADDRESS, already runs in the cluster's mode.)
        enable_token_auth()
    address = address or os.environ.get("RAY_ADDRESS") or None
    # A Ray Job's driver already runs in the job's runtime env (the cluster ships one);
    # ray.init may not set the same env vars again.
    if runtime_env is None and "RAY_JOB_CONFIG_JSON_ENV_VAR" not in os.environ:
        runtime_env = {"env_vars": {**worker_env(), **(env or {})}, **warm.job_runtime_env()}
    # Ray's start-up chatter (token-auth notices, dashboard hints) is not for ablate's users.
    logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        if address:
            ray.init(
                address=address,
                runtime_env=runtime_env,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        else:
            # "local": a new Ray of this process's own. With no address, ray.init would attach
            # to the newest `ray start` cluster on this machine, whoever started it.
            ray.init(
                address="local",
                include_dashboard=False,
                runtime_env=runtime_env,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
    except ConnectionError as err:
        raise AblateError(
            f"cannot connect to the Ray cluster at {address}: {err}",
            hint="check --address / RAY_ADDRESS, and the token (RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH)",
        ) from None


#: Where Ray unpacks a job's ``working_dir`` on each node (under its temp dir).
RAY_WORKING_DIRS = os.sep.join(("", "runtime_resources", "working_dir_files", ""))


def leave_ray_working_dir(root: str) -> bool:
    """Make ``root`` the working directory when the current one is Ray's unpacked
    ``working_dir`` (or gone); whether it moved.

    Ray re-unpacks a ``working_dir`` each time a node's runtime-env agent first sets it up
    (``rm -r`` then unpack): nodes that share a temp dir on one machine replace the
    directory a job's driver and its trials are standing in, and every later
    ``os.getcwd()`` fails (Tune's ``ExperimentAnalysis`` calls it at the end of ``fit``).
    Paths into it still resolve by name; only the old directory handle is dead.
    """
    try:
        cwd: str | None = os.getcwd()
    except FileNotFoundError:
        cwd = None
    if cwd is not None and RAY_WORKING_DIRS not in cwd + os.sep:
        return False
    Path(root).mkdir(parents=True, exist_ok=True)
    os.chdir(root)
    return True


def cluster_nodes() -> list[dict[str, float]]:
    """The resources of every live node."""
    import ray

    return [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]


__all__ = [
    "auth_error",
    "client_address",
    "cluster_nodes",
    "connect",
    "enable_token_auth",
    "leave_ray_working_dir",
    "worker_env",
]
