"""The two trial paths train the same thing: one cell, one seed, two epochs, run inline and
with ``scaling.ray_train: true``, end with the same metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SWEEP = """
name: {name}
_base_: {root}/configs/digits_resnet.yaml
model:
  backbone: {{base_channels: 8}}
data:
  dataset: {{type: Digits, limit: 400}}
  batch_size: 50
train: {{epochs: 2, num_threads: 1}}
search:
  optimizer.lr: [0.05]
  seeds: [3]
scaling: {{num_workers: 1, ray_train: {ray_train}}}
"""


def _final_metrics(tmp: Path, root: Path, ray_train: bool) -> dict[str, float]:
    import ray

    from ablate.config import load_config
    from ablate.layout import FINISHED
    from ablate.plan import make_plan
    from ablate.run.driver import run_sweep

    name = "via_ray_train" if ray_train else "inline"
    path = tmp / f"{name}.yaml"
    path.write_text(SWEEP.format(name=name, root=root, ray_train=str(ray_train).lower()))
    plan = make_plan(load_config(path))
    assert plan.resources.inline is not ray_train
    try:
        outcome = run_sweep(plan, storage=str(tmp / "ray"), printer=lambda s: None)
        started = sorted(a["ActorClassName"] for a in ray._private.state.actors().values())
    finally:
        ray.shutdown()
    if ray_train:
        # The controller ran in the trial's process (ablate.run.controller), the driver
        # reaps in place of Ray Train's placement group cleaner (ablate.run.reaper), and
        # with no Ray Datasets there is no dataset manager.
        gone = {"TrainController", "PlacementGroupCleaner", "DatasetManager"}
        assert not gone & set(started), started
        assert "RayTrainWorker" in started and "SynchronizationActor" in started, started
    (trial,) = outcome.trials
    assert trial.status == FINISHED, trial.error
    assert trial.metrics["epoch"] == 2
    return trial.metrics


def test_inline_and_ray_train_give_identical_metrics(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ablate.run import controller, reaper

    for var in (reaper.REAPER_ENV, controller.IN_TRIAL_ENV):  # the defaults, not a user's
        monkeypatch.delenv(var, raising=False)
    inline = _final_metrics(tmp_path, root, ray_train=False)
    via_train = _final_metrics(tmp_path, root, ray_train=True)
    for key in ("train/loss", "val/loss", "val/top1", "val/top5"):
        assert via_train[key] == pytest.approx(inline[key], abs=1e-6), key
