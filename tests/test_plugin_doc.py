"""docs/adding_components.md does what it says.

The doc marks its parts with HTML comments right before a fenced block:

- ``<!-- file: PATH -->``: the block is the whole file PATH of the plugin project;
- ``<!-- run: ARGS -->``: ``ablate ARGS`` trains (no block needed; ARGS ends in ``--json``);
- ``<!-- stderr: ARGS -->``: the block is exactly the one-line stderr of ``ablate ARGS``
  (``...`` stands for any text);
- ``<!-- stdout-lines: ARGS -->``: every line of the block is a line of ``ablate ARGS``'s stdout.

The project is written once to a temporary directory and every command runs in-process from
there, as the doc runs them from ``my_project/``.
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

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "adding_components.md"
PLUGIN = "my_plugins"
PARTS = parse_markers(DOC, ("file", "run", "stderr", "stdout-lines"), blockless=("run",))
FILES = {arg: block or "" for kind, arg, block in PARTS if kind == "file"}
RUNS = [arg for kind, arg, _ in PARTS if kind == "run"]
STDERRS = [(arg, block) for kind, arg, block in PARTS if kind == "stderr"]
STDOUTS = [(arg, block) for kind, arg, block in PARTS if kind == "stdout-lines"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("my_project")
    write_project(root, FILES)
    forget_plugin(PLUGIN)
    yield root
    forget_plugin(PLUGIN)
    while str(root) in sys.path:
        sys.path.remove(str(root))


def test_doc_code_is_in_house_style(project: Path) -> None:
    """The plugin code is what we would accept in components/: ruff-clean and formatted."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    config = ["--config", str(ROOT / "pyproject.toml")]
    for args in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        done = subprocess.run(
            [ruff, *args, *config, "my_plugins"], cwd=project, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


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
        "my_plugins/__init__.py",
        "my_plugins/backbones.py",
        "my_plugins/necks.py",
        "my_plugins/heads.py",
        "my_plugins/losses.py",
        "my_plugins/datasets.py",
        "my_plugins/models.py",
        "my_plugins/metrics.py",
        "configs/schedule.yaml",
        "configs/my_calibrated.yaml",
        "configs/my_classifier.yaml",
        "configs/my_embedding.yaml",
    }
    assert {r.split()[1] for r in RUNS} == {
        "configs/my_classifier.yaml",
        "configs/my_embedding.yaml",
        "configs/my_calibrated.yaml",
    }
    assert STDERRS and STDOUTS
    for rel, text in FILES.items():
        if rel.endswith(".py"):
            compile(text, rel, "exec")


#: What each documented config must report, besides train/loss, val/loss and epoch.
EXPECTED = {
    "configs/my_classifier.yaml": {"train/cls/loss", "val/top1", "val/top3"},
    "configs/my_embedding.yaml": {
        "train/triplet/loss",
        "train/softmax/loss",
        "train/embedding_norm",
        "val/rank1",
        "val/mAP",
    },
    # The plugin metric, beside a built-in one.
    "configs/my_calibrated.yaml": {"train/cls/loss", "val/top1", "val/top3", "val/ece"},
}


@pytest.mark.parametrize("argv", RUNS)
def test_documented_run_trains(
    argv: str, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _ablate(argv, capsys)
    assert code == 0, err
    metrics = json.loads(out.strip().splitlines()[-1])
    config = argv.split()[1]
    assert {"epoch", "train/loss", "val/loss"} | EXPECTED[config] <= set(metrics)
    assert metrics["epoch"] == 1.0
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    if config.endswith("my_calibrated.yaml"):
        assert 0.0 <= metrics["val/ece"] <= 100.0
    if config.endswith("my_embedding.yaml"):
        # loss_term_weight=0.5 on the softmax term: the total is the weighted sum.
        total = metrics["train/triplet/loss"] + metrics["train/softmax/loss"]
        assert metrics["train/loss"] == pytest.approx(total, rel=1e-5)


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
def test_documented_listing_is_real(
    argv: str, expected: str, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As the doc's `python -c "import my_plugins; ..."`: run from my_project/.
    sys.path.insert(0, str(in_project))
    __import__(PLUGIN)
    code, out, _ = _ablate(argv, capsys)
    assert code == 0
    real = out.splitlines()
    for line in expected.strip().splitlines():
        assert line in real, f"doc line not in `ablate {argv}` output:\n{line}\n---\n{out}"
