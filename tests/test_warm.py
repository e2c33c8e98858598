"""Warm Ray Train workers (ablate/run/warm.py): the hook Ray Train's workers get, and what
it imports. A fresh interpreter runs the hook, so the imports are really made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ablate.run import warm


def test_only_marked_train_workers_are_warmed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert warm.job_runtime_env() == {"worker_process_setup_hook": "ablate.run.warm.setup"}
    monkeypatch.delenv(warm.WARM_ENV, raising=False)
    assert warm.worker_runtime_env() == {"env_vars": {warm.WORKER_ENV: "1"}}
    assert warm.worker_runtime_env(2) == {"env_vars": {warm.WORKER_ENV: warm.DDP_MARK}}
    monkeypatch.setenv(warm.WARM_ENV, "0")
    assert warm.worker_runtime_env() == {}


def test_the_hook_names_a_function_ray_can_load() -> None:
    module, name = warm.HOOK.rsplit(".", 1)
    assert module == warm.__name__ and getattr(warm, name) is warm.setup


def test_the_job_runtime_env_carries_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    import ablate.run.session as session

    source = Path(session.__file__).read_text(encoding="utf-8")
    assert "warm.job_runtime_env()" in source  # connect's default runtime_env on a cluster
    assert "warm.raylet_env(" in source  # a local Ray's workers
    from ray._private import ray_constants

    hook = {ray_constants.WORKER_PROCESS_SETUP_HOOK_ENV_VAR: warm.HOOK}
    monkeypatch.delenv(warm.WARM_ENV, raising=False)
    assert warm.raylet_env() == hook  # Ray Train trials: no torch in their controllers
    assert warm.raylet_env(trials=True) == {**hook, warm.TRIAL_ENV: "1"}
    monkeypatch.setenv(warm.WARM_ENV, "0")
    assert warm.raylet_env(trials=True) == hook


def test_missing_modules_are_named_not_raised() -> None:
    assert warm.warm(("json", "no_such_module_xyz")) == ["no_such_module_xyz"]


WARMED = """
import json, sys, threading
from ablate.run import warm
assert "torch" not in sys.modules and "ray.tune" not in sys.modules
warm.setup()  # returns soon; a thread imports, in a marked worker only
first = [m for m in warm.TRIAL_FIRST_MODULES if m in sys.modules]  # imported before it returned
threads = [t for t in threading.enumerate() if t.name == "ablate-warm"]
warm.wait()  # what a trial does before its own imports
assert not any(t.is_alive() for t in threads)
names = warm.WARM_MODULES + warm.DDP_MODULES + warm.TRIAL_FIRST_MODULES + warm.TRIAL_MODULES
print(json.dumps({"first": first, "all": [m for m in dict.fromkeys(names) if m in sys.modules]}))
"""


def _hook_imports(
    marked: bool, mark: str = warm.WORKER_ENV, value: str = "1"
) -> dict[str, list[str]]:
    """What the hook imported in a fresh process (``all``), and what it had imported
    already when it returned (``first``)."""
    env = {k: v for k, v in os.environ.items() if k not in (warm.WORKER_ENV, warm.TRIAL_ENV)}
    if marked:
        env[mark] = value
    done = subprocess.run(
        [sys.executable, "-c", WARMED],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_setup_imports_the_training_modules_in_a_marked_worker_only() -> None:
    assert _hook_imports(marked=False)["all"] == []  # Train's controller
    hooked = _hook_imports(marked=True)
    imported = hooked["all"]
    # scikit-learn is optional for ablate; everything else must be there.
    assert set(warm.WARM_MODULES) - {"sklearn.model_selection", "sklearn.datasets"} <= set(imported)
    assert "torch._dynamo" not in imported  # one worker: no DDP, and its optimizer skips it
    assert hooked["first"] == []  # a Ray Train worker needs no Tune
    ddp = _hook_imports(marked=True, value=warm.DDP_MARK)["all"]
    assert set(warm.DDP_MODULES) <= set(ddp)  # DDP's constructor imports torch._dynamo


def test_a_local_rays_marked_worker_imports_what_a_trial_needs() -> None:
    hooked = _hook_imports(marked=True, mark=warm.TRIAL_ENV)
    imported = hooked["all"]
    assert set(warm.TRIAL_MODULES) <= set(imported)
    # What the trial actor is unpickled from, before the hook returns: before any task
    # runs, so the actor's creation never imports it at the same time as the thread.
    assert hooked["first"] == list(warm.TRIAL_FIRST_MODULES) == ["ray.tune", "ablate.run.trial"]
    assert "sklearn.datasets" not in imported  # only Digits needs it: not every trial
    assert "torch._dynamo" not in imported  # an inline trial's optimizer steps without it
