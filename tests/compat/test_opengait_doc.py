"""docs/coming_from_opengait.md does what it says.

The doc marks its parts with HTML comments right before a fenced block:

- ``<!-- file: PATH -->``: the block is the whole file PATH of the project;
- ``<!-- run: ARGS -->``: ``ablate ARGS`` trains (ARGS ends in ``--json``);
- ``<!-- stderr: ARGS -->``: the block is exactly the one-line stderr of ``ablate ARGS``;
- ``<!-- plan: SWEEP -->``: ``ablate plan SWEEP`` builds every combination, and (an
  integration test) ``ablate run SWEEP`` trains them and logs the images to MLflow.

The project is written to a temporary directory; the commands run from there.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from doc_project import doc_pattern, forget_plugin, parse_markers, write_project

from ablate.cli import main
from ablate.errors import EXIT_USER_ERROR

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "coming_from_opengait.md"
PLUGIN = "my_gait"
PARTS = parse_markers(DOC, ("file", "run", "stderr", "plan"))
FILES = {arg: block or "" for kind, arg, block in PARTS if kind == "file"}
RUNS = [arg for kind, arg, _ in PARTS if kind == "run"]
STDERRS = [(arg, block) for kind, arg, block in PARTS if kind == "stderr"]
PLANS = [arg for kind, arg, _ in PARTS if kind == "plan"]


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


def test_doc_marks_every_part() -> None:
    assert set(FILES) == {
        "my_gait/__init__.py",
        "my_gait/modules.py",
        "my_gait/gaitset.py",
        "my_gait/losses.py",
        "configs/gaitset.yaml",
        "configs/gaitset_sweep.yaml",
    }
    assert RUNS == ["train configs/gaitset.yaml --json"]
    assert PLANS == ["configs/gaitset_sweep.yaml"]
    assert len(STDERRS) == 2


def test_plugin_imports_only_ablate_names() -> None:
    """The only lines that differ from OpenGait's: ``from ablate import ...``, and no
    registry decorator anywhere."""
    for rel, text in FILES.items():
        if rel.endswith(".py"):
            compile(text, rel, "exec")
            assert "register_module" not in text
            for line in text.splitlines():
                if line.startswith("from ablate"):
                    assert line.startswith("from ablate import "), line


def test_doc_code_is_in_house_style(project: Path) -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    config = ["--config", str(ROOT / "pyproject.toml")]
    for args in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        done = subprocess.run(
            [ruff, *args, *config, PLUGIN], cwd=project, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


#: What the doc says the GaitSet config logs.
LOGGED = {
    "train/triplet/loss",
    "train/triplet/loss_num",
    "train/triplet/mean_dist",
    "train/softmax/loss",
    "train/softmax/accuracy",
    "train/loss",
    "val/loss",
    "val/rank1",
    "val/rank5",
    "val/mAP",
}


@pytest.mark.parametrize("argv", RUNS)
def test_documented_run_trains(
    argv: str, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _ablate(argv, capsys)
    assert code == 0, err
    metrics = json.loads(out.strip().splitlines()[-1])
    assert metrics["epoch"] == 2.0
    assert set(metrics) >= LOGGED, sorted(metrics)
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    # loss_term_weight 1.0 and 0.1: the total is the weighted sum of the logged terms.
    total = metrics["train/triplet/loss"] + metrics["train/softmax/loss"]
    assert metrics["train/loss"] == pytest.approx(total, rel=1e-5)
    assert 0.0 <= metrics["train/softmax/accuracy"] <= 1.0
    # The user's losses, not ablate's built-ins of the same names, were trained: the
    # built-in TripletLoss logs hard_pos/hard_neg/active, OpenGait's loss_num/mean_dist.
    assert "train/triplet/hard_pos" not in metrics


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


@pytest.mark.parametrize("sweep", PLANS)
def test_documented_plan_builds(
    sweep: str, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _ablate(f"plan {sweep}", capsys)
    assert code == 0, err
    text = " ".join(out.split())
    assert "trials: 2 cells x 1 seeds [0] = 2" in text, out
    assert "model combinations built on a sample batch: 2" in text, out
    assert "embeddings[2, 32, 6]" in text and "logits[2, 8, 6]" in text, out
    for name, builtin in (("TripletLoss", "triplet"), ("CrossEntropyLoss", "cross_entropy")):
        note = f"note: your class wins over the built-in: {name}: my_gait.losses replaces"
        assert f"{note} ablate_components.losses.{builtin}" in text, out


@pytest.mark.integration
@pytest.mark.parametrize("sweep", PLANS)
def test_documented_sweep_runs_and_logs_images(sweep: str, project: Path) -> None:
    """``ablate run`` in its own process (its own local Ray); the trials' visual_summary
    images are in MLflow afterwards."""
    import os

    import mlflow

    db = project / "sweep_mlflow.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "ablate.cli", "run", sweep, "--tracking-uri", f"sqlite:///{db}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,  # well under a minute on a quiet machine; shared CI machines are not
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    client = mlflow.MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("gaitset_pk")
    trials = client.search_runs([exp.experiment_id], filter_string="tags.`ablate.role` = 'trial'")
    assert len(trials) == 2
    for run in trials:
        assert run.info.status == "FINISHED"
        assert "val/rank1" in run.data.metrics
        images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
        assert any("sils" in p and p.endswith(".png") for p in images), images
