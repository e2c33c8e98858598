"""Fault tests: a killed driver, a killed Ray Train worker. Nothing lost, nothing twice.

(The killed driver's test is also the sweep-resume test: a finished trial is skipped, one
cut short resumes from its checkpoint, each (cell, seed) has one run with every epoch once.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from cli_runner import ablate, write

pytestmark = pytest.mark.integration


def _trial_runs(tmp_path: Path, sweep: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name(sweep)
    assert exp is not None
    return client.search_runs(
        [exp.experiment_id], filter_string="tags.`ablate.role` = 'trial'", max_results=1000
    ), client


def _assert_once_each(tmp_path: Path, sweep: str, pairs: int, epochs: int) -> None:
    runs, client = _trial_runs(tmp_path, sweep)
    per_pair = Counter((r.data.tags["ablate.cell"], r.data.tags["ablate.seed"]) for r in runs)
    assert len(per_pair) == pairs, per_pair
    assert set(per_pair.values()) == {1}, f"duplicate child runs: {per_pair}"
    for r in runs:
        assert r.info.status == "FINISHED", (r.info.run_name, r.info.status)
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "val/top1")]
        assert sorted(steps) == list(range(1, epochs + 1)), (r.info.run_name, steps)


def test_driver_killed_mid_sweep_then_rerun(tmp_path: Path, tiny_base: Path) -> None:
    sweep = write(
        tmp_path,
        "sweep.yaml",
        """
        name: driverkill
        _base_: base.yaml
        model: {backbone: {base_channels: 16}}
        data: {dataset: {type: Digits, limit: 1200}}
        search:
          model.neck: [{type: GlobalAveragePooling}, {type: GeneralizedMeanPooling}]
          seeds: [0, 1]
        train: {epochs: 3}
        tune: {max_concurrent: 1}
        """,
    )
    log = (tmp_path / "first.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ablate.cli", "run", str(sweep)],
        cwd=tmp_path,
        # A checkpoint every epoch, so the kill lands mid-trial.
        env={**os.environ, "PYTHONPATH": str(tmp_path), "ABLATE_CHECKPOINT_EVERY_S": "0"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ckpts = tmp_path / ".ablate" / "ray" / "driverkill" / "checkpoints"
    deadline = time.monotonic() + 400
    # Kill once a second trial has a checkpoint: one trial done, one in the middle.
    while (
        time.monotonic() < deadline
        and proc.poll() is None
        and len(list(ckpts.glob("*/state.pt"))) < 2
    ):
        time.sleep(0.05)
    assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
    assert len(list(ckpts.glob("*/state.pt"))) >= 2, "the sweep never got going"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)

    ran = ablate("run", str(sweep), cwd=tmp_path, timeout=400)
    assert ran.code == 0, ran.err[-3000:]
    # Trials MLflow saw finish are skipped; if none had, Ray Tune restores the experiment.
    assert "already finished in MLflow" in ran.out or "resuming sweep 'driverkill'" in ran.out
    assert "resumed at epoch" in ran.out, ran.out  # the one cut short, from its checkpoint
    _assert_once_each(tmp_path, "driverkill", pairs=4, epochs=3)

    # Run again: everything finished, so nothing starts.
    again = ablate("run", str(sweep), cwd=tmp_path, timeout=200)
    assert again.code == 0, again.err[-3000:]
    assert "nothing new to run" in again.out
    _assert_once_each(tmp_path, "driverkill", pairs=4, epochs=3)


KILLER = """
import os
import signal
from pathlib import Path

from ablate import NECKS
from ablate_components.necks.pooling import GlobalAveragePooling


@NECKS.register_module()
class WorkerKillerNeck(GlobalAveragePooling):
    \"\"\"SIGKILLs its own Ray Train worker on the 10th training step, once (a marker file).\"\"\"

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = Path(marker)
        self.steps = 0

    def forward(self, feats):
        if self.training:
            self.steps += 1
            if self.steps == 10 and not self.marker.exists():
                self.marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return super().forward(feats)
"""


def test_worker_killed_restarts_from_checkpoint(tmp_path: Path, tiny_base: Path) -> None:
    write(tmp_path, "killer_plugin.py", KILLER)
    marker = tmp_path / "killed.pid"
    sweep = write(
        tmp_path,
        "sweep.yaml",
        f"""
        name: workerkill
        _base_: base.yaml
        custom_imports: {{imports: [killer_plugin]}}
        search:
          model.neck: [{{type: WorkerKillerNeck, marker: "{marker}"}}]
          seeds: [0]
        train: {{epochs: 3}}
        scaling: {{num_workers: 1, ray_train: true, max_failures: 2}}
        """,
    )
    every_epoch = {"ABLATE_CHECKPOINT_EVERY_S": "0"}
    ran = ablate("run", str(sweep), cwd=tmp_path, timeout=400, env=every_epoch)
    assert ran.code == 0, ran.err[-3000:]
    assert marker.exists(), "the worker was never killed"
    _assert_once_each(tmp_path, "workerkill", pairs=1, epochs=3)
