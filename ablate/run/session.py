"""The Ray session: start a local Ray or connect to a cluster, what its nodes hold, and the
cluster's token.

Ray is imported inside these functions only, so ``ablate --help`` never pays for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ablate import timeline
from ablate.errors import AblateError
from ablate.run import controller, reaper, warm

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
    ``py_modules`` (:mod:`ablate.run.cluster.ship`). A local Ray started by
    :func:`start_local` in the background is waited for here.
    """
    wait_local()
    import ray

    if ray.is_initialized():
        return
    if address or os.environ.get("RAY_ADDRESS", "").startswith("ray://"):
        # Ray's clients send the cluster's token only in token mode. (A job's driver, given
        # its cluster by RAY_ADDRESS, already runs in the cluster's mode.)
        enable_token_auth()
    address = address or os.environ.get("RAY_ADDRESS") or None
    # Ray's start-up chatter (token-auth notices, dashboard hints) is not for ablate's users.
    logging.getLogger("ray").setLevel(logging.ERROR)
    if not address:
        _init_local(env)
        return
    # A Ray Job's driver already runs in the job's runtime env (the cluster ships one);
    # ray.init may not set the same env vars again.
    if runtime_env is None and "RAY_JOB_CONFIG_JSON_ENV_VAR" not in os.environ:
        runtime_env = {"env_vars": {**worker_env(), **(env or {})}, **warm.job_runtime_env()}
    try:
        ray.init(
            address=address,
            runtime_env=runtime_env,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except ConnectionError as err:
        raise AblateError(
            f"cannot connect to the Ray cluster at {address}: {err}",
            hint="check --address / RAY_ADDRESS, and the token (RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH)",
        ) from None


def _init_local(env: dict[str, str] | None) -> None:
    """A new Ray of this process's own ("local": with no address, ray.init would attach to
    the newest `ray start` cluster on this machine, whoever started it).

    Its workers get their environment from the raylet's, a copy of this process's at the
    start, rather than from a job runtime env: a first actor then starts without the runtime
    env agent (measured 0.6 against 1.3 to 3 s), and Ray Train workers get the warm hook this
    way (:func:`ablate.run.warm.raylet_env`). Tune's trial actors then run in the worker
    processes the raylet starts ahead (:func:`plain_trial_actors`).
    """
    with _environ(_local_env(env)):  # the raylet keeps a copy
        _ray_init_local()


#: Ray resolves a node address of 127.0.0.1 to the machine's outward one, and its servers
#: listen there, on Linux unless this is ``0`` (``ray._private.services``).
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


#: How long the raylet leaves a worker idle before it may end it, if it has more than one per
#: CPU (Ray's default: 1 s). The raylet starts one worker per CPU ahead, before the driver's
#: job exists; with Ray's default, it ended those early workers just as Tune asked for its
#: first trial actors in 14 of 30 probe runs here, and then started as many new ones. The trials
#: then imported torch and ablate themselves, in workers started late, while the warmed ones
#: were thrown away: 2 to 4 s later to the first trial (BENCHMARKS.md, the probe).
IDLE_KILL_ENV = "RAY_idle_worker_killing_time_threshold_ms"
IDLE_KILL_MS = "60000"

#: What a local Ray's Ray Train trials go without (a user's value wins; on a cluster Ray's
#: defaults stay). The preemption watcher is an actor, so a process, started for every
#: ``fit()`` to poll whether a node is being drained: a local Ray is one node, this machine,
#: which no cloud reclaims. Ray Train's metrics are for a Prometheus to scrape, and nothing
#: scrapes a local Ray of ablate's (it has no dashboard). Both cost CPU while a trial starts.
PREEMPTION_ENV, TRAIN_METRICS_ENV = (
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER",
    "RAY_TRAIN_METRICS_ENABLED",
)
#: Ray starts its workers, so every trial, at nice 15 (its system processes stay at 0). On a
#: local Ray of ablate's own the trials are the work: they run at the command's own niceness
#: (``nice ablate run`` then lowers all of it; a user's value wins). At 15 the driver's work
#: stalled them whenever it ran: the probe's sweep took 0.3 s longer in 3 of 3 pairs
#: (BENCHMARKS.md, the probe).
NICENESS_ENV = "RAY_worker_niceness"


def _local_env(env: dict[str, str] | None, warm_trials: bool = False) -> dict[str, str]:
    # PL_DISABLE_FORK: what Tune gives each trial actor, here given to every worker instead
    # (see plain_trial_actors). LOOPBACK_ENV: Ray's own Python processes bind to loopback too.
    return {
        **worker_env(),
        "PL_DISABLE_FORK": "1",
        LOOPBACK_ENV: "0",
        IDLE_KILL_ENV: os.environ.get(IDLE_KILL_ENV, IDLE_KILL_MS),  # a user's value wins
        PREEMPTION_ENV: os.environ.get(PREEMPTION_ENV, "0"),
        TRAIN_METRICS_ENV: os.environ.get(TRAIN_METRICS_ENV, "0"),
        NICENESS_ENV: os.environ.get(NICENESS_ENV, str(os.nice(0))),
        reaper.MARK_ENV: "1" if reaper.enabled() else "0",  # the driver reaps
        controller.IN_TRIAL_ENV: "1" if controller.enabled() else "0",
        **(env or {}),
        **warm.raylet_env(warm_trials),
    }


#: The environment the raylet of this process's local Ray copied (its workers' environment).
_raylet_environ: dict[str, str] = {}
#: Whether this process's local Ray was started without its API server (the state API).
_without_state_api = False


def _ray_init_local(state_api: bool = True, runtime_envs: bool = True) -> None:
    """``ray.init`` of a new single-node Ray whose servers listen on 127.0.0.1 only; without
    ``state_api``, also without Ray's API server, and without ``runtime_envs`` with Ray's
    runtime env agent started only if asked (:func:`_without_cluster_helpers`)."""
    import ray
    from ray._private import ray_constants

    global _raylet_environ, _without_state_api
    _raylet_environ = dict(os.environ)
    _without_state_api = not state_api
    # Read when the node's address is resolved (Ray imported earlier read the variable then).
    cluster = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        with _without_cluster_helpers(state_api, runtime_envs):
            ray.init(
                address="local",
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = cluster


@contextmanager
def _without_cluster_helpers(state_api: bool = True, runtime_envs: bool = True) -> Iterator[None]:
    """A head node started in the block has no autoscaler monitor and no log monitor, and
    without ``state_api`` no API server either; without ``runtime_envs`` (nothing in the
    sweep asks for a runtime env) its runtime env agent starts only when first asked.

    A local Ray of one process's own has nothing to autoscale, and with ``log_to_driver``
    off no driver reads what the log monitor publishes (the workers' log files are written
    all the same). Those two Python processes cost 1.2 s of CPU at every start, about 1 s of
    ``ray.init`` on 2 cores, and the monitor up to 0.65 s at the end (BENCHMARKS.md, the
    probe). ``ray.init`` does not take the two ``RayParams`` fields it has for this, so they
    are set as its head node's parameters are made. (Without those fields, another Ray
    version: nothing changes.)

    The API server (``ray/dashboard/dashboard.py``, started even with
    ``include_dashboard=False``, for the job and state APIs) costs 1 s of CPU, and
    ``ray.init`` waits for it to publish its address: ``ray.init`` takes 1.9 s without it
    against 3.1 to 4.2 s with it, here. A sweep of inline trials asks nothing of it, nor
    one of Ray Train trials whose driver reaps (:mod:`ablate.run.reaper`). Ray Train's own
    placement-group cleaner (``ABLATE_PG_REAPER=0``) and its state actor ask the state API
    whether a controller is alive, so such a sweep keeps it (and :func:`start_local`
    replaces a Ray of this process's own started without it).

    The runtime env agent (:mod:`ablate.run.lazy_env_agent`) costs 0.6 s of CPU, and the
    raylet registers its node only once it listens: 0.45 s sooner to the first trial
    without it, here (BENCHMARKS.md, the probe). Inline trials ask it nothing; Ray Train's
    workers each have a runtime env, so a Ray started for such a sweep gets Ray's own
    agent. A Ray started for inline trials and kept for a later Ray Train sweep in the same
    process gets it too, when its first worker asks (about 2 s then). Both stand-ins come
    with the API server's absence only, and ``ABLATE_RAY_AGENT=1`` keeps Ray's agents.
    """
    from ray._private import node, parameter, services

    with _PATCHING:  # one block at a time: each restores what it found
        made = parameter.RayParams.__init__
        api_server = getattr(node.Node, "start_api_server", None)
        start_process = services.start_ray_process
        caller = threading.get_ident()  # the classes are the process's: this thread's Ray

        def trimmed(self: Any, *args: Any, **kwargs: Any) -> None:
            made(self, *args, **kwargs)
            mine = threading.get_ident() == caller
            if mine and hasattr(self, "no_monitor") and hasattr(self, "include_log_monitor"):
                self.no_monitor = True
                self.include_log_monitor = False

        def no_api_server(self: Any, *args: Any, **kwargs: Any) -> None:
            if threading.get_ident() != caller and api_server is not None:
                api_server(self, *args, **kwargs)

        def quiet_raylet(command: list[str], process_type: str, *args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() == caller and process_type == "raylet":
                command = _with_quiet_agent(command)
                if not runtime_envs:
                    command = _with_lazy_env_agent(command)
            return start_process(command, process_type, *args, **kwargs)

        parameter.RayParams.__init__ = trimmed  # type: ignore[method-assign]
        if not state_api and api_server is not None:
            node.Node.start_api_server = no_api_server  # type: ignore[method-assign]
            if os.environ.get(RAY_AGENT_ENV) != "1":
                services.start_ray_process = quiet_raylet
        try:
            yield
        finally:
            parameter.RayParams.__init__ = made  # type: ignore[method-assign]
            services.start_ray_process = start_process
            if api_server is not None:
                node.Node.start_api_server = api_server  # type: ignore[method-assign]


#: ``1`` keeps Ray's own dashboard agent on a local Ray without the state API.
RAY_AGENT_ENV = "ABLATE_RAY_AGENT"
_AGENT_FLAG = "--dashboard_agent_command="


def _with_quiet_agent(command: list[str]) -> list[str]:
    """The raylet's ``command`` with :mod:`ablate.run.quiet_agent` for Ray's dashboard agent.

    The stand-in writes the agent's ports as unused and lives as long as the raylet (its
    docstring says why). The real agent's arguments it needs, the session directory and
    the node, are taken from the command Ray built; a command without them is left alone.
    """
    import shlex

    from ablate.run import quiet_agent

    out = []
    for arg in command:
        if arg.startswith(_AGENT_FLAG):
            given = shlex.split(arg[len(_AGENT_FLAG) :])
            keep = [a for a in given if a.startswith(("--session-dir=", "--node-id="))]
            if len(keep) == 2:
                stub = [sys.executable, "-S", quiet_agent.__file__, *keep]
                arg = _AGENT_FLAG + subprocess.list2cmdline(stub)
        out.append(arg)
    return out


_ENV_AGENT_FLAG = "--runtime_env_agent_command="


def _with_lazy_env_agent(command: list[str]) -> list[str]:
    """The raylet's ``command`` with Ray's runtime env agent started by
    :mod:`ablate.run.lazy_env_agent`, which becomes it when the raylet first asks it
    something; an agent command without what the script needs (its arguments, an
    executable it can ``exec`` as given) is left alone."""
    import shlex

    from ablate.run import lazy_env_agent

    out = []
    for arg in command:
        if arg.startswith(_ENV_AGENT_FLAG):
            given = shlex.split(arg[len(_ENV_AGENT_FLAG) :])
            runnable = bool(given) and os.path.isabs(given[0]) and os.access(given[0], os.X_OK)
            needs = (f"--{name}=" for name in lazy_env_agent.NEEDS)
            if runnable and all(any(a.startswith(n) for a in given) for n in needs):
                stub = [sys.executable, "-I", "-S", lazy_env_agent.__file__, *given]
                arg = _ENV_AGENT_FLAG + subprocess.list2cmdline(stub)
        out.append(arg)
    return out


#: Held while :func:`_without_cluster_helpers` has Ray's classes patched.
_PATCHING = threading.Lock()


@contextmanager
def _environ(extra: dict[str, str]) -> Iterator[None]:
    """``extra`` in ``os.environ`` for the block's child processes, then as before."""
    before = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        _restore(before)


class _Starting:
    """A local Ray started in a thread that stays alive while Ray runs.

    Ray ties its processes to their parent with ``PR_SET_PDEATHSIG``, and Linux sends that
    signal when the *thread* that forked them ends: a starter thread that returned would
    take the GCS and the raylet with it. So the thread starts Ray, says so, and stays until
    those processes have exited. The environment the raylet copies is set and restored
    here, on the calling thread: ``setenv`` is not safe while other threads run.
    """

    def __init__(
        self,
        env: dict[str, str] | None,
        warm_trials: bool = False,
        state_api: bool = True,
        runtime_envs: bool = True,
    ) -> None:
        self.error: BaseException | None = None
        self.state_api = state_api
        self.runtime_envs = runtime_envs
        self.ready = threading.Event()
        extra = _local_env(env, warm_trials)
        self.before = {k: os.environ.get(k) for k in extra}
        os.environ.update(extra)
        self.thread = threading.Thread(target=self._run, name="ablate-ray-start", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            import ray  # before the level: importing Ray sets up its logger

            logging.getLogger("ray").setLevel(logging.ERROR)
            _ray_init_local(self.state_api, self.runtime_envs)
            timeline.mark("ray started")
            import ray.tune  # noqa: F401  (the driver needs it next: import it meanwhile)
        except BaseException as err:  # handed to the main thread by wait_local
            self.error = err
            return
        finally:
            self.ready.set()
        # The parent of Ray's processes until each has exited, whoever stops them.
        procs = _node_processes()
        if procs is None:  # not known (another Ray version): until the process exits
            threading.Event().wait()
        while any(p.poll() is None for p in procs or ()):
            time.sleep(0.5)

    def wait(self) -> None:
        """Wait for Ray to be up (raising what stopped it), then restore the environment."""
        self.ready.wait()
        _restore(self.before)
        if self.error is not None:
            raise self.error


def _restore(before: dict[str, str | None]) -> None:
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


_starting: _Starting | None = None
_stopping: threading.Thread | None = None


def start_local(
    env: dict[str, str] | None = None,
    *,
    warm_trials: bool = False,
    state_api: bool = True,
    runtime_envs: bool = True,
) -> None:
    """Start this process's local Ray in the background, while the driver opens a local
    store, dry-builds and takes the lease; :func:`connect` waits for it. ``warm_trials``:
    the raylet's early workers import what an inline trial needs, ahead of it
    (:func:`warm.raylet_env`). Without ``state_api`` (inline trials, or Ray Train trials
    whose placement groups the driver reaps: :mod:`ablate.run.reaper`) Ray starts no API
    server, and without ``runtime_envs`` (inline trials) its runtime env agent only if
    something asks for one (:func:`_without_cluster_helpers`).

    Ray's processes start on the other core while this one imports torch and builds, which
    hides about half of ``ray.init`` (BENCHMARKS.md, the probe's timeline). ``ray.init`` sets
    its SIGTERM handler only in the main thread, so this sets the same one (exit, running
    atexit and Ray's shutdown) when nobody else has.
    """
    global _starting
    _join_stopping()
    if state_api and _without_state_api and _starting is None and _ray_up():
        shutdown_own()  # a Ray this process started for inline trials: Ray Train needs more
    if _starting is not None or ("ray" in sys.modules and _ray_up()):
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(signum))
    _starting = _Starting(env, warm_trials, state_api, runtime_envs)


def wait_local() -> None:
    """Wait for :func:`start_local`'s Ray, raising what stopped it (nothing if none). A
    Ctrl-C during the wait leaves it to :func:`stop_local`."""
    global _starting
    _join_stopping()
    if _starting is not None:
        _starting.wait()
        _starting = None


def stop_local() -> None:
    """Stop :func:`start_local`'s Ray if nothing connected to it: the command ended before
    its sweep started (a mistake found by the dry build, an unreachable store, a held
    lease, nothing new to run). A Ray the sweep used is left to it."""
    if _starting is None:
        return
    try:
        wait_local()
    except Exception:  # it never started: nothing to stop
        return
    shutdown_own()


def shutdown_in_background() -> None:
    """:func:`shutdown_own` in a thread, so that the command's last words need not wait for
    it; the next :func:`start_local` or :func:`connect` in this process waits for it."""
    global _stopping
    _stopping = threading.Thread(target=shutdown_own, name="ablate-ray-stop")
    _stopping.start()


def _join_stopping() -> None:
    global _stopping
    if _stopping is not None:
        _stopping.join()
        _stopping = None


def shutdown_own() -> None:
    """Shut down this process's own local Ray, its processes stopped side by side.

    ``ray.shutdown()`` stops a node's processes one after another, each given up to a second
    to exit on SIGTERM: a few seconds at the end of every local sweep. Here the driver
    disconnects first, with the node's processes still up (``ray.shutdown`` on a detached
    node); then the raylet gets SIGTERM and a second to stop its workers, then every other
    process gets SIGTERM at once, and whatever is left :data:`HELPER_GRACE_S` later gets
    SIGKILL. Without
    the node object Ray keeps privately (another Ray version), it is ``ray.shutdown()``.
    """
    import ray
    from ray._private import worker

    node = getattr(worker, "_global_node", None)
    table = getattr(node, "all_processes", None)
    if node is None or not isinstance(table, dict) or not node.is_head():
        ray.shutdown()
        return
    worker._global_node = None  # ray.shutdown() below only disconnects the driver
    try:
        ray.shutdown()
    finally:
        node.destroy_external_storage()
        raylet = [i.process for i in table.pop("raylet", [])]
        _stop_together(raylet)
        # The GCS and Ray's Python helpers (the dashboard and, on a Ray started by another
        # way, the autoscaler and log monitors) hold nothing once the raylet is gone; the
        # autoscaler monitor alone took 0.65 s to honour SIGTERM (and once in a while a
        # minute), so they get a short grace.
        _stop_together([i.process for infos in table.values() for i in infos], HELPER_GRACE_S)


#: How long the node's other processes get to exit on SIGTERM once the raylet has stopped.
HELPER_GRACE_S = 0.15


def _stop_together(procs: list[Any], grace_s: float = 1.0) -> None:
    """SIGTERM every process at once, SIGKILL what is left after ``grace_s``, reap all."""
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        p.terminate()
    deadline = time.monotonic() + grace_s
    for p in alive:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=grace_s)


def _node_processes() -> list[Any] | None:
    """The processes (``Popen``) of the Ray node this process started, if Ray says."""
    from ray._private import worker

    table = getattr(getattr(worker, "_global_node", None), "all_processes", None)
    if not isinstance(table, dict):
        return None
    return [i.process for infos in table.values() for i in infos]


def _own_node() -> bool:
    """Whether this process started the Ray node it is connected to (a local Ray)."""
    from ray._private import worker

    node = getattr(worker, "_global_node", None)
    return node is not None and bool(getattr(node, "is_head", lambda: False)())


def driver_reaps() -> bool:
    """Whether this driver removes what dead Ray Train controllers leave: a local Ray of its
    own, whose trials then start no placement group cleaner (:mod:`ablate.run.reaper`)."""
    return _own_node() and _raylet_environ.get(reaper.MARK_ENV) == "1"


@contextmanager
def plain_trial_actors() -> Iterator[None]:
    """Tune's trial actors without a runtime env of their own, on a local Ray of this
    process's.

    Tune registers every trainable with a runtime env of environment variables
    (``PL_DISABLE_FORK``, and those it hands on from the driver's environment:
    ``tune/execution/class_cache.py``). An actor with a runtime env never runs in the worker
    processes the raylet starts ahead, and waits for the runtime env agent besides: 1.3 to
    1.6 s to a first actor, against 0.5 s without (BENCHMARKS.md). The raylet of a local Ray
    ablate started copied those variables already (:func:`_local_env`), so here Tune hands on
    only those whose value differs from the raylet's copy: none, as a rule. Its trial actors
    then run in the raylet's early workers, warmed for trials (:mod:`ablate.run.warm`).
    Elsewhere (a cluster, another Ray version) this does nothing.
    """
    try:
        from ray.tune.execution import class_cache
    except ImportError:  # another Ray: Tune as it is
        yield
        return
    names = ("DEFAULT_ENV_VARS", "ENV_VARS_TO_PROPAGATE")
    if not _own_node() or not all(hasattr(class_cache, n) for n in names):
        yield
        return
    saved = class_cache.DEFAULT_ENV_VARS, class_cache.ENV_VARS_TO_PROPAGATE
    default, propagated = saved
    class_cache.DEFAULT_ENV_VARS = {k: v for k, v in default.items() if _raylet_environ.get(k) != v}
    class_cache.ENV_VARS_TO_PROPAGATE = {
        k for k in propagated if k in os.environ and os.environ[k] != _raylet_environ.get(k)
    }
    try:
        yield
    finally:
        class_cache.DEFAULT_ENV_VARS, class_cache.ENV_VARS_TO_PROPAGATE = saved


def _ray_up() -> bool:
    import ray

    return bool(ray.is_initialized())


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
    "plain_trial_actors",
    "worker_env",
]
