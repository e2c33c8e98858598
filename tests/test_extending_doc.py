"""docs/extending.md does what it says.

The doc marks its parts with HTML comments right before a fenced block, as
docs/adding_components.md does (``ARGS`` are split as a shell splits them):

- ``<!-- file: PATH -->``: the block is the whole file PATH of the plugin project;
- ``<!-- stdout-lines: ARGS -->``: every line of the block is a line of ``ablate ARGS``'s
  stdout, spacing aside (``...`` stands for any text);
- ``<!-- stderr: ARGS -->``: the block is exactly the one-line stderr of ``ablate ARGS``,
  which exits 2 (``...`` stands for any text);
- ``<!-- points: SWEEP [OVERRIDES] -->``: the block is the plan's points, one per line, as
  ``describe_point`` writes them;
- ``<!-- run: [VAR=value ...] ARGS -->``: ``ablate ARGS``, in its own process with those
  environment variables (its own local Ray), exits 0; the runs go in the doc's order;
- ``<!-- report-sections: PATH -->``: the block is the numbered section titles of the report
  PATH that the runs wrote, and of any report written with the plugin imported;
- ``<!-- report-lines: WHAT -->``: every line of the block is a line of the report of a sweep
  where no trial finished.

The project is written once to a temporary directory and every command runs from there, as the
doc runs them from ``my_project/``: in-process, but for the runs, which start Ray.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from doc_project import doc_pattern, forget_plugin, parse_markers, write_project

from ablate.cli import main
from ablate.errors import EXIT_USER_ERROR
from ablate.registry import EXTENSIONS_GROUP
from ablate.report.sections import SECTIONS
from ablate.search.strategies import STRATEGIES

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extending.md"
PLUGIN = "my_ext"
KINDS = ("file", "stdout-lines", "stderr", "points", "run", "report-sections", "report-lines")
PARTS = parse_markers(DOC, KINDS)


def _parts(kind: str) -> list[tuple[str, str]]:
    return [(arg, block or "") for k, arg, block in PARTS if k == kind]


FILES = dict(_parts("file"))
STDOUTS = _parts("stdout-lines")
STDERRS = _parts("stderr")
POINTS = _parts("points")
RUNS = [arg for arg, _ in _parts("run")]
REPORT_SECTIONS = _parts("report-sections")
REPORT_LINES = _parts("report-lines")


def _block_lines(block: str) -> list[str]:
    return [ln for ln in block.strip().splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("my_project")
    write_project(root, FILES)
    forget_plugin(PLUGIN)
    yield root
    forget_plugin(PLUGIN)
    while str(root) in sys.path:
        sys.path.remove(str(root))
    assert "corners" not in STRATEGIES._table and "cost" not in SECTIONS._table


@pytest.fixture
def in_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(project)
    return project


def _ablate(argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(shlex.split(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_doc_marks_every_part() -> None:
    assert set(FILES) == {
        "my_ext/__init__.py",
        "my_ext/corners.py",
        "my_ext/median_stop.py",
        "my_ext/cost.py",
        "configs/tiny.yaml",
        "sweeps/corners.yaml",
        "sweeps/corners_smoke.yaml",
    }
    assert STDOUTS and STDERRS and POINTS and REPORT_SECTIONS and REPORT_LINES
    assert [shlex.split(r)[-2:] for r in RUNS] == [
        ["run", "sweeps/corners_smoke.yaml"],
        ["report", "corners_smoke"],
    ]
    for rel, text in FILES.items():
        if rel.endswith(".py"):
            compile(text, rel, "exec")
    # The brief of each extension: registered under the names the sweep selects.
    assert '@STRATEGIES.register_module("corners")' in FILES["my_ext/corners.py"]
    assert '@SCHEDULERS.register_module("median_stop")' in FILES["my_ext/median_stop.py"]
    assert '@SECTIONS.register_module("cost")' in FILES["my_ext/cost.py"]
    assert "{type: median_stop, grace_period: 1}" in FILES["sweeps/corners.yaml"]
    # The entry-point snippet names the group the registry loads.
    text = DOC.read_text(encoding="utf-8")
    assert f'[project.entry-points."{EXTENSIONS_GROUP}"]' in text
    assert 'my_ext = "my_ext"' in text


def test_links_to_the_doc_find_their_heading() -> None:
    """Other pages link to sections of this one (``extending.md#packaging-a-plugin``)."""
    titles = re.findall(r"^#+ (.+)$", DOC.read_text(encoding="utf-8"), flags=re.M)
    anchors = {re.sub(r"[^\w\- ]", "", t.lower()).replace(" ", "-") for t in titles}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for anchor in re.findall(r"extending\.md#([\w-]+)", page.read_text(encoding="utf-8")):
            assert anchor in anchors, f"{page.name} links to extending.md#{anchor}: no such heading"


def test_a_taken_name_is_an_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ablate import AblateError, Strategy

    monkeypatch.syspath_prepend(str(project))
    importlib.import_module(PLUGIN)

    class Other(Strategy):
        def points(self, p):  # type: ignore[no-untyped-def]
            return []

    with pytest.raises(AblateError) as err:
        STRATEGIES.register_module("corners")(Other)
    message = (
        "strategy 'corners' is already registered by my_ext.corners.Corners; pick another "
        "name, or pass force=True to replace it"
    )
    assert str(err.value) == message
    assert " ".join(message.split()) in " ".join(DOC.read_text(encoding="utf-8").split())
    assert STRATEGIES.get("corners").__module__ == "my_ext.corners"


def test_doc_code_is_in_house_style(project: Path) -> None:
    """The plugin code is what we would accept in ablate: ruff-clean and formatted."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    config = ["--config", str(ROOT / "pyproject.toml")]
    for args in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        done = subprocess.run(
            [ruff, *args, *config, PLUGIN], cwd=project, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("argv", "expected"), STDOUTS, ids=[a for a, _ in STDOUTS])
def test_documented_output_is_real(
    argv: str, expected: str, in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _ablate(argv, capsys)
    assert code == 0, err
    real = [" ".join(ln.split()) for ln in out.splitlines()]
    for line in _block_lines(expected):
        pattern = doc_pattern(" ".join(line.split()))
        assert any(pattern.fullmatch(r) for r in real), (
            f"doc line not in `ablate {argv}` output:\n{line}\n---\n{out}"
        )


@pytest.mark.parametrize(("argv", "expected"), POINTS, ids=[a for a, _ in POINTS])
def test_documented_points_are_planned(argv: str, expected: str, in_project: Path) -> None:
    # As the doc's snippet: make_plan(load_config(sweep, overrides)).points.
    from ablate.config import load_config
    from ablate.plan import make_plan
    from ablate.search.space import describe_point

    sweep, *overrides = shlex.split(argv)
    plan = make_plan(load_config(sweep, overrides))
    assert [describe_point(p) for p in plan.points] == _block_lines(expected)
    assert len(plan.trials) == len(plan.points) * len(plan.space.seeds)


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


def test_option_typo_in_the_sweep_file_names_the_file(
    in_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The doc: written in the sweep file, the typo is the same error, naming the file."""
    text = FILES["sweeps/corners.yaml"].replace("grace_period: 1}", "grace: 1}")
    (in_project / "sweeps" / "corners_typo.yaml").write_text(text, encoding="utf-8")
    code, _, err = _ablate("plan sweeps/corners_typo.yaml", capsys)
    assert code == EXIT_USER_ERROR
    assert err.strip() == (
        "error: sweeps/corners_typo.yaml: tune.scheduler.grace: unknown median_stop option "
        "'grace' (did you mean 'grace_period'?); expected grace_period, min_samples_required"
    )


def test_scheduler_is_ray_tunes_median_stopping_rule(in_project: Path) -> None:
    from ray.tune.schedulers import MedianStoppingRule

    from ablate.config import load_config
    from ablate.plan import make_plan

    plan = make_plan(load_config("sweeps/corners.yaml"))
    assert plan.scheduler.stops_early
    assert plan.scheduler.key == "tune.scheduler"
    rule = plan.scheduler.tune_scheduler(plan.epochs)
    assert isinstance(rule, MedianStoppingRule)
    assert (rule._time_attr, rule._grace_period, rule._min_samples_required) == (
        "epoch",
        1,
        3,
    )


# --- the report ------------------------------------------------------------------------------

CELLS = [  # (neck, optimizer.lr): the corners of the smoke sweep, and a second neck
    ("GlobalAveragePooling", 0.01),
    ("GlobalAveragePooling", 0.3),
    ("GeneralizedMeanPooling", 0.01),
    ("GeneralizedMeanPooling", 0.3),
]
META = {
    "name": "corners",
    "metric": "val/top1",
    "mode": "max",
    "strategy": "corners",
    "dimensions": [
        {"name": "neck", "categorical": True},
        {"name": "optimizer.lr", "categorical": False},
    ],
}


def _trials(finished: bool) -> pd.DataFrame:
    """Two seeds per cell (cell k: k+1 times as slow, and better), plus one failed trial."""
    rows = []
    for k, (neck, lr) in enumerate(CELLS):
        for seed in (0, 1, 2) if k == 0 else (0, 1):
            ok = finished and seed < 2
            rows.append(
                {
                    "trial_id": f"t{k}s{seed}",
                    "cell": f"cell{k}",
                    "seed": seed,
                    "status": "FINISHED" if ok else "FAILED",
                    "error": None if ok else "RuntimeError: the GPU fell off",
                    "duration_s": 10.0 * (k + 1) + seed,
                    "val/top1": 50.0 + 10 * k + seed if ok else np.nan,
                    "param.neck": neck,
                    "param.optimizer.lr": lr,
                }
            )
    return pd.DataFrame(rows)


def _report(project: Path, out: Path, finished: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    from ablate.report import write_report

    monkeypatch.syspath_prepend(str(project))
    importlib.import_module(PLUGIN)
    paths = write_report(_trials(finished), None, META, out)
    html = paths["html"].read_text(encoding="utf-8")
    assert ">3. Cost of each cell</h2>" in html
    return paths["md"].read_text(encoding="utf-8")


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_report_numbers_the_new_section(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    md = _report(project, tmp_path, True, monkeypatch)
    ((_, expected),) = REPORT_SECTIONS
    assert re.findall(r"^## (.+)$", md, flags=re.M) == _block_lines(expected)
    cost = _section(md, "3. Cost of each cell")
    # Counted trials only: the failed third seed of cell0 (12 s) is not in the total.
    total = sum(10.0 * (k + 1) + s for k in range(4) for s in (0, 1))
    assert f"most expensive first: {total:,.0f} s in all" in cost
    assert "as ranked in section 2." in cost
    rows = [ln for ln in cost.splitlines() if ln.startswith("| C")]
    # Most expensive first: cell3 (40 s + 41 s), which is also the best, so C1.
    assert rows[0] == "| C1 | GeneralizedMeanPooling | 0.3 | 2 | 80.50 | 81.0 | 40.5 | 40% |"
    assert [r.split(" | ")[0] for r in rows] == ["| C1", "| C2", "| C3", "| C4"]
    # Failed trials moved down to section 10, the failed trial with it.
    assert "RuntimeError: the GPU fell off" in _section(md, "10. Failed trials")


def test_report_cross_references_follow_when_no_trial_finished(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    md = _report(project, tmp_path, False, monkeypatch)
    ((_, expected),) = REPORT_LINES
    lines = md.splitlines()
    for line in _block_lines(expected):
        assert line in lines, f"doc line not in the report:\n{line}\n---\n{md}"
    assert md.count("section 10 lists why they failed") >= 6  # every section, the new one too
    assert _section(md, "3. Cost of each cell").strip() == _block_lines(expected)[0]
    assert "See section 10." in _section(md, "1. How to read this")
    assert "section 9" not in md


# --- a real sweep ----------------------------------------------------------------------------


def _ablate_process(argv: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``[VAR=value ...] ablate ARGS`` as the doc's shell runs it: the console script."""
    words = shlex.split(argv)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ABLATE_PLUGINS", "MLFLOW_TRACKING_URI", "RAY_ADDRESS", "PYTHONPATH")
    }
    env["TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"] = "0"
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    script = Path(sys.executable).with_name("ablate")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "ablate.cli"]
    return subprocess.run(
        [*cmd, *words], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.integration
def test_documented_run_works(project: Path) -> None:
    """The doc's runs, in order: the smoke sweep under corners + median_stop on a local Ray,
    then its report rewritten from MLflow with the plugin named in ABLATE_PLUGINS."""
    ran = _ablate_process(RUNS[0], project)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "2 of 2 trials finished" in ran.stdout, ran.stdout

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    exp = client.get_experiment_by_name("corners_smoke")
    assert exp is not None
    trials = client.search_runs([exp.experiment_id], "tags.`ablate.role` = 'trial'")
    assert sorted(r.info.status for r in trials) == ["FINISHED", "FINISHED"]
    assert sorted(float(r.data.params["optimizer.lr"]) for r in trials) == [0.01, 0.3]
    for r in trials:  # both epochs: median_stop stopped neither (too few trials to compare)
        assert r.data.tags["ablate.status"] == "FINISHED"
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "val/top1")]
        assert sorted(steps) == [1, 2]
    (parent,) = client.search_runs([exp.experiment_id], "tags.`ablate.role` = 'parent'")
    assert parent.data.tags["ablate.strategy"] == "corners"

    ((path, expected),) = REPORT_SECTIONS
    report = project / path
    titles = _block_lines(expected)
    assert re.findall(r"^## (.+)$", report.read_text(encoding="utf-8"), flags=re.M) == titles

    # As the doc says: without the plugin, the report is written without its section.
    report.unlink()
    bare = _ablate_process("report corners_smoke", project, timeout=120)
    assert bare.returncode == 0, bare.stderr
    bare_titles = re.findall(r"^## (.+)$", report.read_text(encoding="utf-8"), flags=re.M)
    assert bare_titles[-1] == "9. Failed trials" and len(bare_titles) == 9

    again = _ablate_process(RUNS[1], project, timeout=120)
    assert again.returncode == 0, again.stderr[-3000:]
    assert re.findall(r"^## (.+)$", report.read_text(encoding="utf-8"), flags=re.M) == titles
