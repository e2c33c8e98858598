"""Warm Ray Train workers (ablate/run/warm.py): the hook Ray Train's workers get, and what
it imports. A fresh interpreter runs the hook, so the imports are really made."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ablate.run import warm


def test_workers_get_the_hook_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(warm.WARM_ENV, raising=False)
    assert warm.runtime_env() == {"worker_process_setup_hook": "ablate.run.warm.setup"}
    monkeypatch.setenv(warm.WARM_ENV, "0")
    assert warm.runtime_env() == {}


def test_the_hook_names_a_function_ray_can_load() -> None:
    module, name = warm.HOOK.rsplit(".", 1)
    assert module == warm.__name__ and getattr(warm, name) is warm.setup


def test_missing_modules_are_named_not_raised() -> None:
    assert warm.warm(("json", "no_such_module_xyz")) == ["no_such_module_xyz"]


WARMED = """
import json, sys, threading
from ablate.run import warm
assert "torch" not in sys.modules
warm.setup()  # returns at once; the thread imports
(thread,) = [t for t in threading.enumerate() if t.name == "ablate-warm"]
thread.join(120)
print(json.dumps([m for m in warm.WARM_MODULES if m in sys.modules]))
"""


def test_setup_imports_the_training_modules_in_the_background() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WARMED], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    # scikit-learn is optional for ablate; everything else must be there.
    assert set(warm.WARM_MODULES) - {"sklearn.model_selection", "sklearn.datasets"} <= set(imported)
