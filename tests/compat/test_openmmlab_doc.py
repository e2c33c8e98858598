"""docs/coming_from_openmmlab.md does what it says: the three families' ported plugins
(mmpretrain's head and loss, mmcls's ResNet_CIFAR, mmtracking's SOT parts) train, plan and
sweep with only their imports changed.

Markers (see tests/doc_project.py): ``file:`` blocks make the project; ``run:`` trains
(``--json``); ``stderr:`` is the exact one-line error; ``stdout-lines:`` lines appear in the
output; ``sweep:`` runs ``ablate ARGS`` as its own process, with a real local Ray.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from doc_project import doc_pattern, forget_plugin, parse_markers, write_project

from ablate import BACKBONES
from ablate.cli import main
from ablate.errors import EXIT_USER_ERROR

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "coming_from_openmmlab.md"
PLUGIN = "my_mm"
KINDS = ("file", "run", "stderr", "stdout-lines", "sweep")
PARTS = parse_markers(DOC, KINDS, blockless=("run", "sweep"))
FILES = {arg: block or "" for kind, arg, block in PARTS if kind == "file"}
RUNS = [arg for kind, arg, _ in PARTS if kind == "run"]
SWEEPS = [arg for kind, arg, _ in PARTS if kind == "sweep"]
STDERRS = [(arg, block) for kind, arg, block in PARTS if kind == "stderr"]
STDOUTS = [(arg, block) for kind, arg, block in PARTS if kind == "stdout-lines"]

#: What each documented run must report, besides train/loss and val/loss.
EXPECTED = {
    "configs/bars.yaml": {"train/cls/loss", "train/cls/accuracy_top-1", "val/top1"},
    "configs/digits_resnet18.py": {"train/cls/loss", "val/top1", "val/top5"},
    "configs/sot.yaml": {
        "train/track/loss_cls",
        "train/track/loss_bbox",
        "val/success_auc",
        "val/iou",
    },
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("my_project")
    write_project(root, FILES)
    forget_plugin(PLUGIN)
    yield root
    forget_plugin(PLUGIN)
    while str(root) in sys.path:
        sys.path.remove(str(root))


@pytest.fixture
def in_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project)
    return project


def _ablate(argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv.split())
    out, err = capsys.readouterr()
    return code, out, err


def test_doc_shows_every_family() -> None:
    assert {"my_mm/bars.py", "my_mm/resnet_cifar.py", "my_mm/sot.py"} <= set(FILES)
    assert {r.split()[1] for r in RUNS} == set(EXPECTED)
    assert SWEEPS and STDERRS and STDOUTS
    for rel, text in FILES.items():
        if rel.endswith(".py") and rel.startswith("my_mm/"):
            compile(text, rel, "exec")


def test_doc_shows_the_upstream_base_unchanged() -> None:
    """The mmpretrain base config, in the layout it ships in (tuple with a trailing comma)."""
    text = FILES["configs/resnet18_cifar.py"]
    assert "out_indices=(3, )," in text and "style='pytorch'" in text


@pytest.mark.parametrize("argv", RUNS)
def test_documented_run_trains(
    argv: str, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _ablate(argv, capsys)
    assert code == 0, err
    metrics = json.loads(out.strip().splitlines()[-1])
    assert {"train/loss", "val/loss"} | EXPECTED[argv.split()[1]] <= set(metrics)
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    if "imports=[my_mm]" in argv:  # the ported ResNet_CIFAR, not the built-in, was trained
        assert BACKBONES.get("ResNet_CIFAR").__module__ == "my_mm.resnet_cifar"
    if argv.split()[1] == "configs/sot.yaml":  # HeadLoss sums the head's two losses
        parts = metrics["train/track/loss_cls"] + metrics["train/track/loss_bbox"]
        assert metrics["train/track/loss"] == pytest.approx(parts, rel=1e-4)
        assert 0.0 <= metrics["val/success_auc"] <= 1.0  # the box task's metric (issue 10)


@pytest.mark.parametrize(("argv", "expected"), STDERRS, ids=[a for a, _ in STDERRS])
def test_documented_error_is_real(
    argv: str, expected: str, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _ablate(argv, capsys)
    assert code == EXIT_USER_ERROR
    assert len(err.splitlines()) == 1, err
    assert doc_pattern(expected.strip()).fullmatch(err.strip()), (
        f"doc says:\n{expected}\nablate says:\n{err}"
    )


@pytest.mark.parametrize(("argv", "expected"), STDOUTS, ids=[a for a, _ in STDOUTS])
def test_documented_plan_is_real(
    argv: str, expected: str, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _ablate(argv, capsys)
    assert code == 0, err
    for line in expected.strip().splitlines():
        assert line in out.splitlines(), f"doc line not in `ablate {argv}`:\n{line}\n---\n{out}"


#: What each documented sweep must show: its trials' labels in the output and, when given,
#: the sweep's name (its MLflow experiment) and a metric every trial logs there.
SWEEP_EXPECTED: dict[str, tuple[tuple[str, ...], tuple[str, str] | None]] = {
    "configs/sweep.py": (("model=bars", "model=TinyTracker"), None),
    "configs/sot_sweep.yaml": (
        ("head.loss_bbox=BoxL1Loss", "head.loss_bbox=BoxSmoothL1Loss"),
        ("sot_losses", "val/success_auc"),
    ),
}


def test_doc_sweeps_are_all_checked() -> None:
    assert {s.split()[1] for s in SWEEPS} == set(SWEEP_EXPECTED)


@pytest.mark.integration
@pytest.mark.parametrize("argv", SWEEPS)
def test_documented_sweep_runs(argv: str, tmp_path: Path) -> None:
    """Every family's plugin trains as a sweep trial, on a real local Ray; the SOT loss
    sweep logs the box task's metric for each trial."""
    write_project(tmp_path, FILES)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "MLFLOW_TRACKING_URI": uri}
    done = subprocess.run(
        [sys.executable, "-m", "ablate.cli", *argv.split()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 of 2 trials finished" in done.stdout, done.stdout
    labels, logged = SWEEP_EXPECTED[argv.split()[1]]
    assert all(label in done.stdout for label in labels), done.stdout
    if logged is None:
        return
    name, metric = logged
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(name)
    assert exp is not None, f"no MLflow experiment {name}"
    trials = [
        r
        for r in client.search_runs([exp.experiment_id])
        if r.data.tags.get("ablate.role") == "trial"
    ]
    assert len(trials) == 2, [r.data.tags for r in trials]
    for run in trials:
        assert run.info.status == "FINISHED", run.info
        assert 0.0 <= run.data.metrics[metric] <= 1.0, run.data.metrics
