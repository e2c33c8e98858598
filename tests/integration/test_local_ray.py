"""The command's own local Ray, started in the background while the driver builds and opens
the store (:func:`ablate.run.session.start_local`)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from procs import child_commands

pytestmark = pytest.mark.integration


def test_a_background_ray_outlives_its_start_and_gives_workers_the_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ray

    from ablate.run import controller, reaper, session

    for var in (reaper.REAPER_ENV, controller.IN_TRIAL_ENV):  # the defaults, not a user's
        monkeypatch.delenv(var, raising=False)

    before = os.environ.get("RAY_CHDIR_TO_TRIAL_DIR")
    session.start_local(
        env={"ABLATE_PROBE_ENV": "yes"}, warm_trials=True, state_api=False, runtime_envs=False
    )
    try:
        session.connect(None)  # waits for the background start
        assert ray.is_initialized()
        # Ray's processes die with the thread that forked them (PR_SET_PDEATHSIG): a
        # starter thread that had returned would have taken the GCS down by now.
        time.sleep(2)

        @ray.remote(num_cpus=1)
        def env() -> dict[str, str | None]:
            keys = (
                "RAY_CHDIR_TO_TRIAL_DIR",
                "ABLATE_PROBE_ENV",
                "PYTHONPATH",
                session.IDLE_KILL_ENV,
                session.PREEMPTION_ENV,
                session.TRAIN_METRICS_ENV,
                reaper.MARK_ENV,
                controller.IN_TRIAL_ENV,
            )
            return {**{k: os.environ.get(k) for k in keys}, "nice": str(os.nice(0))}

        seen = ray.get(env.remote(), timeout=120)
        # The trials run at the command's own niceness, not Ray's 15 (a user's value wins).
        assert seen["nice"] == os.environ.get(session.NICENESS_ENV, str(os.nice(0)))
        assert seen["RAY_CHDIR_TO_TRIAL_DIR"] == "0" and seen["ABLATE_PROBE_ENV"] == "yes"
        assert seen["PYTHONPATH"] == session.worker_env()["PYTHONPATH"]  # custom_imports
        # The raylet (whose environment the workers copy) keeps its early workers a minute.
        assert seen[session.IDLE_KILL_ENV] == session.IDLE_KILL_MS
        # One node, this machine: no Ray Train preemption watcher (a process per fit), and
        # no Ray Train metrics (nothing scrapes a local Ray of ablate's).
        for var in (session.PREEMPTION_ENV, session.TRAIN_METRICS_ENV):
            assert seen[var] == os.environ.get(var, "0"), var  # a user's own value wins
        # The driver removes dead controllers' placement groups: no cleaner actor per fit.
        assert seen[reaper.MARK_ENV] == "1" and session.driver_reaps()
        # A Ray Train trial's controller runs in the trial's process (ablate.run.controller).
        assert seen[controller.IN_TRIAL_ENV] == "1"
        _a_dead_actors_placement_group_is_reaped()
        # The driver's own environment is as it was: the raylet keeps the copy.
        assert os.environ.get("RAY_CHDIR_TO_TRIAL_DIR") == before
        assert "ABLATE_PROBE_ENV" not in os.environ
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}  # loopback only
        _trials_run_in_the_raylets_own_workers(session)
        procs = session._node_processes()
        assert procs and all(p.poll() is None for p in procs)
        # No autoscaler monitor and no log monitor: nothing to scale, no driver reads logs;
        # and for inline trials only, no API server (dashboard.py) either.
        kinds = set(ray._private.worker._global_node.all_processes)
        assert {"gcs_server", "raylet"} <= kinds, kinds
        assert not kinds & {"monitor", "log_monitor", "dashboard"}, kinds
        # Nor Ray's dashboard agent: its stand-in told the raylet that no port is in use.
        assert _agent_is_the_stand_in()
        (agent,) = _AGENTS
        _the_runtime_env_agent_starts_when_first_asked()
        assert ray.cluster_resources().get("CPU", 0) >= 1
        starter = next(t for t in threading.enumerate() if t.name == "ablate-ray-start")
    finally:
        t0 = time.monotonic()
        session.shutdown_own()
        took = time.monotonic() - t0
    # Every process of the node has exited, side by side (not a second or more each), and
    # the starter thread, their parent, has ended with them.
    assert not ray.is_initialized()
    assert all(p.poll() is not None for p in procs), [p.args[0] for p in procs if p.poll() is None]
    assert took < 1.0 + 1.0 + 0.5 * len(procs), took
    starter.join(timeout=5)
    assert not starter.is_alive()
    # The stand-in ends with its raylet (it looks twice a second).
    deadline = time.monotonic() + 5
    while Path(f"/proc/{agent}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{agent}").exists() or "Z" in _state(agent), "the stand-in outlived Ray"


def _the_runtime_env_agent_starts_when_first_asked() -> None:
    """Inline trials ask the runtime env agent nothing: its stand-in listens in its place
    and, asked, becomes Ray's own agent (the same process), so a task with a runtime env of
    its own still runs."""
    import ray

    (before,) = _env_agents()
    assert "lazy_env_agent.py" in " ".join(before[1])

    @ray.remote(num_cpus=0)
    def var() -> str | None:
        return os.environ.get("ABLATE_PROBE_RUNTIME_ENV")

    asked = var.options(runtime_env={"env_vars": {"ABLATE_PROBE_RUNTIME_ENV": "1"}})
    assert ray.get(asked.remote(), timeout=120) == "1"
    ((pid, cmd),) = _env_agents()
    assert pid == before[0]  # the raylet still watches the process it started
    assert "RuntimeEnvAgent" in " ".join(cmd)  # Ray's own agent now (its process title)


def _env_agents() -> list[tuple[int, list[str]]]:
    """The raylet's runtime env agent processes: (pid, command line)."""
    import ray

    node = ray._private.worker._global_node
    raylet = node.all_processes["raylet"][0].process.pid
    return [
        (pid, cmd)
        for pid, cmd in child_commands(raylet)
        if "lazy_env_agent.py" in " ".join(cmd) or "RuntimeEnvAgent" in " ".join(cmd)
    ]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def _a_dead_actors_placement_group_is_reaped() -> None:
    """Ray keeps a placement group whose creator actor was killed while the job lives, as a
    Ray Train controller's when Tune ends its trial; the reaper removes it, and leaves the
    driver's own (Tune's) and a live actor's alone."""
    import ray
    from ray.util.placement_group import placement_group, placement_group_table

    from ablate.run import reaper

    @ray.remote(num_cpus=0)
    class Controller:
        def reserve(self) -> str:
            pg = placement_group([{"CPU": 0.01}])
            ray.get(pg.ready(), timeout=60)
            return pg.id.hex()

    dying, living = Controller.remote(), Controller.remote()
    orphan, kept = ray.get([dying.reserve.remote(), living.reserve.remote()], timeout=120)
    drivers = placement_group([{"CPU": 0.01}])
    ray.get(drivers.ready(), timeout=60)
    job = bytes.fromhex(ray.get_runtime_context().get_job_id())

    def orphans() -> list[str]:
        gcs = ray._private.state.state._global_state_accessor
        return [pg.hex() for pg in reaper.orphans(gcs.get_placement_group_table(), job)]

    ray.kill(dying)
    deadline = time.monotonic() + 30
    while not orphans():
        assert time.monotonic() < deadline, "the GCS never marked the creator dead"
        time.sleep(0.1)
    assert orphans() == [orphan]
    assert placement_group_table()[orphan]["state"] == "CREATED"  # Ray alone keeps it
    with reaper.reaping(True, interval=0.1):
        deadline = time.monotonic() + 30
        while placement_group_table()[orphan]["state"] != "REMOVED":
            assert time.monotonic() < deadline, placement_group_table()[orphan]
            time.sleep(0.1)
    table = placement_group_table()
    assert table[kept]["state"] == "CREATED" and table[drivers.id.hex()]["state"] == "CREATED"
    ray.kill(living)
    ray.util.remove_placement_group(drivers)


def _trials_run_in_the_raylets_own_workers(session) -> None:  # type: ignore[no-untyped-def]
    """Under plain_trial_actors, Tune's trial actors carry no runtime env of their own (so
    the raylet's early, warmed workers can host them) and still see what Tune gives them."""
    import ray
    from ray import tune
    from ray.tune.execution import class_cache

    from ablate.run import warm

    tunes_own = dict(class_cache.DEFAULT_ENV_VARS)

    def trial(config: dict) -> None:
        env = ray.get_runtime_context().runtime_env.get("env_vars") or {}
        keys = ("PL_DISABLE_FORK", warm.TRIAL_ENV, "RAY_CHDIR_TO_TRIAL_DIR")
        tune.report({"own_env": len(env), **{k: os.environ.get(k) or "" for k in keys}})

    with session.plain_trial_actors():
        assert class_cache.DEFAULT_ENV_VARS == {}
        grid = tune.Tuner(
            trial,
            tune_config=tune.TuneConfig(num_samples=1),
            run_config=tune.RunConfig(verbose=0, storage_path=os.path.abspath("tune")),
        ).fit()
    assert tunes_own == class_cache.DEFAULT_ENV_VARS  # restored after
    seen = grid[0].metrics
    assert seen["own_env"] == 0
    assert seen["PL_DISABLE_FORK"] == "1" and seen["RAY_CHDIR_TO_TRIAL_DIR"] == "0"
    assert seen[warm.TRIAL_ENV] == "1"


def test_a_background_ray_nobody_used_is_stopped() -> None:
    import ray

    from ablate.run import session

    session.start_local(state_api=False)  # for inline trials: no API server
    session.wait_local()
    assert "dashboard" not in ray._private.worker._global_node.all_processes
    # A sweep whose Ray Train trials need the state API (ABLATE_PG_REAPER=0: Ray Train's own
    # placement group cleaner) gets a Ray with it in the same process.
    session.start_local()
    assert session._starting is not None and session._starting.ready.wait(timeout=120)
    assert "dashboard" in ray._private.worker._global_node.all_processes
    assert not _agent_is_the_stand_in()  # and Ray's own agent, which the API server asks
    session.stop_local()  # the command ended before its sweep (exit 2, say)
    assert not ray.is_initialized()
    session.stop_local()  # and a second call has nothing left to stop


def _agent_is_the_stand_in() -> bool:
    """Whether the raylet's dashboard agent is :mod:`ablate.run.quiet_agent`, checked by
    its process and by the ports it wrote (``-1``: not in use)."""
    import ray

    node = ray._private.worker._global_node
    raylet = node.all_processes["raylet"][0].process.pid
    agents, pids = [], []
    for pid, cmd in child_commands(raylet):
        # Ray's agent renames itself (setproctitle); the stand-in keeps its argv.
        if any(a.endswith("quiet_agent.py") or "DashboardAgent" in a for a in cmd):
            agents.append(cmd)
            pids.append(pid)
    assert len(agents) == 1, agents
    quiet = any(a.endswith("quiet_agent.py") for a in agents[0])
    node_id = ray.get_runtime_context().get_node_id()
    port = Path(node.get_session_dir_path(), f"metrics_agent_port_{node_id}").read_text()
    assert (port == "-1") == quiet, (port, agents[0])
    _AGENTS[:] = pids
    return quiet


#: The agent's process id that :func:`_agent_is_the_stand_in` found last.
_AGENTS: list[int] = []
