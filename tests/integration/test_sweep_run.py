"""Real sweeps on a real local Ray: failures stay alone, DDP trials fit 2 cores, resume works."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import TINY_BASE, Ran, ablate, together, write

pytestmark = pytest.mark.integration

EXPLODING = """
from torch import nn
from ablate import HEADS
from ablate_components.heads.cls_heads import LinearClsHead


@HEADS.register_module()
class ExplodingHead(LinearClsHead):
    \"\"\"Builds and dry-runs fine, then raises on the third training step.\"\"\"

    def __init__(self, num_classes: int, in_channels: int | None = None, loss: dict | None = None) -> None:
        super().__init__(num_classes, in_channels, loss)
        self.steps = 0

    def forward(self, feats):
        if self.training:
            self.steps += 1
            if self.steps == 3:
                raise RuntimeError("ExplodingHead blew up on purpose")
        return super().forward(feats)
"""


FAILING = """
name: failing
_base_: base.yaml
custom_imports: {imports: [boom_plugin]}
search:
  model.head:
    - {type: LinearClsHead}
    - {type: ExplodingHead}
  seeds: [0]
train: {epochs: 1}
"""

NAN = """
name: nan
_base_: base.yaml
search:
  optimizer.lr: [1.0e+12]
  seeds: [0]
train: {epochs: 1}
"""


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Ran, Path]]:
    """The two failing sweeps, started at once (:func:`cli_runner.together`): each is
    mostly fixed cost."""
    where = {name: tmp_path_factory.mktemp(name) for name in ("failing", "nan")}
    for name, text in (("failing", FAILING), ("nan", NAN)):
        write(where[name], "base.yaml", TINY_BASE)
        write(where[name], "sweep.yaml", text)
    write(where["failing"], "boom_plugin.py", EXPLODING)
    ran = together({name: (("run", str(w / "sweep.yaml")), w) for name, w in where.items()})
    return {name: (ran[name], where[name]) for name in where}


def test_failing_trial_fails_alone(failures: dict[str, tuple[Ran, Path]]) -> None:
    ran, tmp_path = failures["failing"]
    assert ran.code == 1, ran.err[-3000:]  # some trials failed: distinguishable from success
    assert "1 of 2 trials finished" in ran.out
    # The failure is one line: the trial by its choices, the error's last line, and the file
    # holding the whole traceback.
    failure = ran.err.splitlines()[0]
    assert re.fullmatch(
        r"  \[\d/2\] FAILED  head=ExplodingHead s0: RuntimeError: ExplodingHead blew up on "
        r"purpose \(traceback: (\S+)\)",
        failure,
    ), ran.err
    traceback = tmp_path / failure.rsplit("(traceback: ", 1)[1].rstrip(")")
    text = traceback.read_text()
    assert 'raise RuntimeError("ExplodingHead blew up on purpose")' in text and "File " in text
    # The surviving trial is ranked in the results table.
    assert "head=LinearClsHead" in ran.out
    assert_only_ablates_words(ran)


#: Every line ``ablate run`` may print, on stdout or stderr, for a sweep that runs.
OWN_LINES = [
    r"log of Ray, Tune and the trials: \.ablate/ray/\S+/logs/\d{8}-\d{6}\.log",
    r"sweep '\w+': \d+ trials, up to \d+ at once \(.*\)",
    r"  \[\d+/\d+\] done    .* s\d+  val/top1=\S+  epochs=\d+ \(.*\)  \| .*",
    r"  \[\d+/\d+\] FAILED  .* s\d+: .* \(traceback: \S+\)",
    r"Ctrl-C: stopping the trials and saving the sweep \(Ctrl-C again stops at once\)",
    r"interrupted: the unfinished trials are marked INTERRUPTED in MLflow",
    r"Ctrl-C: marking the runs in MLflow first; press it again to stop at once",
    r"interrupted",
    r" *rank +val/top1 +n +failed +seconds +cell",
    r" +\d+ +[\d.]+( ± [\d.]+)? +\d+ +\d+ +\d+ +\S+=.*",
    r"\d+ of \d+ trials finished in \d+s",
    r"report: reports/\w+/report\.html \(report\.md, results\.csv\)",
    r"mlflow: sqlite:///\S+ \(browse it with: ablate ui\)",
    r"",
]


def assert_only_ablates_words(ran: Ran) -> None:
    """No Ray or Tune banner, TensorBoard hint, token notice or warning; no cell hash but in
    a path."""
    for line in (ran.out + ran.err).splitlines():
        assert any(re.fullmatch(p, line) for p in OWN_LINES), f"foreign line: {line!r}"
        bare = re.sub(r"\(traceback: \S+\)", "", line)
        assert not re.search(r"\b[0-9a-f]{10}\b", bare), f"a hash on the console: {line!r}"


def test_nan_loss_fails_its_trial(failures: dict[str, tuple[Ran, Path]]) -> None:
    ran, _ = failures["nan"]
    assert ran.code == 3, ran.err[-3000:]  # every trial failed
    assert "loss is" in ran.err and "epoch 1" in ran.err


def test_two_worker_ddp_sweep_fits_two_cores(tmp_path: Path, tiny_base: Path) -> None:
    # Two 1-CPU workers on a 2-CPU machine: the trial driver must hold no CPU, or this hangs.
    # The metrics sync over the workers (torchmetrics under Ray Train's gloo group), the test
    # split is evaluated at the end, and MLflow and the report carry test/*. One trial: a
    # Ray Train trial's fixed cost is most of this test (two run in the cluster test).
    sweep = write(
        tmp_path,
        "sweep.yaml",
        """
        name: ddp
        _base_: base.yaml
        search:
          model.neck: [{type: GeneralizedMeanPooling}]
          seeds: [0]
        train: {epochs: 1}
        scaling: {num_workers: 2, use_gpu: false}
        evaluation:
          metrics: [{type: Accuracy, topk: 1}, {type: MacroF1}, {type: ConfusionMatrix}]
          test: true
        tune: {metric: val/f1}
        """,
    )
    ran = ablate(
        "run",
        str(sweep),
        "--max-concurrent",
        "1",
        cwd=tmp_path,
        timeout=400,
        env={"RAY_num_cpus": "2"},
    )
    assert ran.code == 0, ran.err[-3000:]
    assert "1 of 1 trials finished" in ran.out
    assert "Ray Train, 2 CPU workers" in ran.out
    _check_test_split_in_mlflow(tmp_path, "ddp")


def _check_test_split_in_mlflow(root: Path, sweep: str) -> None:
    import json

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name(sweep)
    trials = client.search_runs([exp.experiment_id], "tags.`ablate.role` = 'trial'")
    assert len(trials) == 1
    for run in trials:
        m = run.data.metrics
        assert {"val/top1", "val/f1", "test/top1", "test/f1", "test/loss"} <= set(m)
        assert 0.0 <= m["test/f1"] <= 100.0
        (step,) = [h.step for h in client.get_metric_history(run.info.run_id, "test/top1")]
        assert step == 1  # the last epoch only
        path = client.download_artifacts(run.info.run_id, "metrics/test/confusion.json")
        confusion = json.loads(Path(path).read_text(encoding="utf-8"))
        # Digits(limit=400) holds 360 test items, every one counted once over both workers.
        assert len(confusion) == 10 and sum(map(sum, confusion)) == 360
    report = (root / "reports" / sweep / "report.md").read_text(encoding="utf-8")
    assert "Selected on `val/f1` (val); reported on `test/f1`" in report
    assert "### Confusion matrix of the best cell (test)" in report
    assert "of 360 test items on the diagonal" in report


def test_resources_that_can_never_fit_fail_fast(tmp_path: Path, tiny_base: Path) -> None:
    sweep = write(
        tmp_path,
        "sweep.yaml",
        """
        name: toobig
        _base_: base.yaml
        search:
          model.neck: [{type: GlobalAveragePooling}]
        scaling: {num_workers: 64}
        """,
    )
    t0 = time.monotonic()
    ran = ablate("run", str(sweep), cwd=tmp_path, timeout=120)
    assert ran.code == 2
    last = ran.err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "can never start" in last
    assert time.monotonic() - t0 < 60


def test_optuna_with_asha(tmp_path: Path, tiny_base: Path) -> None:
    sweep = write(
        tmp_path,
        "sweep.yaml",
        """
        name: tpe
        _base_: base.yaml
        search:
          optimizer.lr: {loguniform: [1.0e-3, 0.3]}
          model.neck:
            - {type: GlobalAveragePooling}
            - {type: GeneralizedMeanPooling, p: {uniform: [1.0, 6.0]}}
        train: {epochs: 3}
        tune: {strategy: optuna, scheduler: asha, num_samples: 4, asha: {grace_period: 1, reduction_factor: 2}}
        """,
    )
    ran = ablate("run", str(sweep), cwd=tmp_path, timeout=400)
    assert ran.code == 0, ran.err[-3000:]
    assert "4 trials" in ran.out
    # One line per trial: done, or stopped early by ASHA (seed-aware, so a lucky seed is no help).
    ended = re.findall(r"^\s+\[\d+/4\] (done|stopped) ", ran.out, flags=re.MULTILINE)
    assert len(ended) == 4, ran.out


HANGING = """
import time
from ablate import NECKS
from ablate_components.necks.pooling import GlobalAveragePooling


@NECKS.register_module()
class HangingNeck(GlobalAveragePooling):
    \"\"\"Dry-runs fine (eval mode), then hangs forever on the first training step.\"\"\"

    def forward(self, feats):
        if self.training:
            while True:
                time.sleep(1)
        return super().forward(feats)
"""


@pytest.mark.parametrize("workers", [1, 2], ids=["inline", "ddp"])
def test_trial_timeout_stops_a_hung_trial(tmp_path: Path, tiny_base: Path, workers: int) -> None:
    """The hung trial fails alone. With 2 workers on 2 CPUs, Tune ends the trial's process and
    with it its Ray Train controller; Ray keeps the controller's placement group while the
    job lives, so the next trial only starts once the driver has removed it
    (ablate.run.reaper)."""
    write(tmp_path, "hang_plugin.py", HANGING)
    # A Ray Train trial's own start (controller, worker group, gloo) takes 5 to 12 s here:
    # the healthy trial must not meet the timeout too.
    timeout = 10 if workers == 1 else 30
    sweep = write(
        tmp_path,
        "sweep.yaml",
        f"""
        name: timeout
        _base_: base.yaml
        custom_imports: {{imports: [hang_plugin]}}
        search:
          model.neck: [{{type: HangingNeck}}, {{type: GlobalAveragePooling}}]
          seeds: [0]
        train: {{epochs: 1}}
        scaling: {{num_workers: {workers}}}
        tune: {{trial_timeout: {timeout}, max_concurrent: 1}}
        """,
    )
    t0 = time.monotonic()
    # 2 CPUs whatever the machine: the dead trial's group holds them all.
    ran = ablate("run", str(sweep), cwd=tmp_path, timeout=300, env={"RAY_num_cpus": "2"})
    assert ran.code == 1, ran.err[-3000:]
    assert f"trial_timeout={timeout}s" in ran.err
    assert "neck=HangingNeck" in ran.err
    assert "1 of 2 trials finished" in ran.out
    assert time.monotonic() - t0 < 200


def test_ctrl_c_marks_the_runs_and_exits_130(tmp_path: Path, tiny_base: Path) -> None:
    sweep = write(
        tmp_path,
        "sweep.yaml",
        """
        name: ctrlc
        _base_: base.yaml
        search:
          model.neck: [{type: GlobalAveragePooling}, {type: GeneralizedMeanPooling}]
          seeds: [0, 1]
        train: {epochs: 3}
        tune: {max_concurrent: 1}
        """,
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ablate.cli", "run", str(sweep)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        out = []
        for line in proc.stdout:
            out.append(line)
            if " done " in line:
                break
        # Ctrl-C in a terminal reaches the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        first = proc.stderr.readline()
        assert first.startswith("Ctrl-C: stopping the trials"), (first, out)
        os.killpg(proc.pid, signal.SIGINT)  # the second one stops at once
        t0 = time.monotonic()
        rest, err = proc.communicate(timeout=120)
        stopped_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, (first, err)
    assert err.strip().splitlines()[-1] == "interrupted", err
    assert_only_ablates_words(Ran(proc.returncode, "".join(out) + rest, first + err))
    assert stopped_s < 60, stopped_s
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("ctrlc")
    runs = client.search_runs([exp.experiment_id])
    parent = [r for r in runs if r.data.tags["ablate.role"] == "parent"]
    assert [r.info.status for r in parent] == ["KILLED"]
    trials = [r for r in runs if r.data.tags["ablate.role"] == "trial"]
    assert "FINISHED" in {r.info.status for r in trials}, err
    assert all(r.info.status in ("FINISHED", "KILLED") for r in trials), (
        [r.info.status for r in trials],
        err,
    )
    assert {r.data.tags.get("ablate.status") for r in trials if r.info.status == "KILLED"} <= {
        "INTERRUPTED"
    }
