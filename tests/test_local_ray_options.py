"""Which of Ray's helpers a sweep's own local Ray starts without (:func:`ablate.app.sweep.
_local_ray`): pure choice, with ``start_local`` recorded rather than run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_bad_input_many import BASE, SEARCH  # one small base config for these tests

from ablate.app import sweep
from ablate.app.options import SweepOptions
from ablate.run import reaper, session


@pytest.mark.parametrize(
    ("scaling", "reaps", "expected"),
    [
        # Inline trials ask for neither the state API nor a runtime env.
        ("", True, {"state_api": False, "runtime_envs": False}),
        ("", False, {"state_api": False, "runtime_envs": False}),
        # Ray Train's workers each have a runtime env; its placement group cleaner asks
        # the state API unless this driver reaps.
        ("scaling: {num_workers: 2}\n", True, {"state_api": False, "runtime_envs": True}),
        ("scaling: {num_workers: 2}\n", False, {"state_api": True, "runtime_envs": True}),
    ],
)
def test_the_local_ray_goes_without_what_its_trials_never_ask(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    scaling: str,
    reaps: bool,
    expected: dict[str, bool],
) -> None:
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "sweep.yaml").write_text("_base_: base.yaml\n" + scaling + SEARCH)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(reaper, "enabled", lambda: reaps)
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(session, "start_local", lambda **kw: started.append(kw))
    monkeypatch.setattr(session, "stop_local", lambda: None)
    opts = SweepOptions(sweep="sweep.yaml")
    plan = sweep.statically_checked(opts)
    with sweep._local_ray(opts, plan, warm_trials=False):
        pass
    assert started == [{"warm_trials": False, **expected}]
