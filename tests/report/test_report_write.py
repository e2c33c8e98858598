"""write_report end to end: files, sections, self-containment, and the degenerate sweeps."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic import synthetic_sweep

from ablate.report import SweepMeta, write_report

# What a reader sees: the numbered titles, and the cross-reference to the failures section.
TITLES = (
    "1. How to read this",
    "2. Leaderboard of cells",
    "3. Marginal effect of each dimension",
    "4. Interactions",
    "5. Difference from the reference cell",
    "6. Ablation path",
    "7. Parameter importance",
    "8. Learning curves",
    "9. Failed trials",
)
NO_FINISHED = (
    "No finished trials, so there is nothing to show here; section 9 lists why they failed."
)

EFFECTS = {
    "neck": {"GlobalAvgPool": 0.0, "GeneralizedMeanPooling": 0.03},
    "head": {"LinearHead": 0.0, "BNNeckHead": 0.01},
}


def _check_files(paths: dict[str, Path], n_trials: int) -> tuple[str, str]:
    md = paths["md"].read_text(encoding="utf-8")
    html = paths["html"].read_text(encoding="utf-8")
    for title in TITLES:
        assert f"## {title}" in md
        assert f">{title}</h2>" in html
    assert not re.search(r"https?://", html)
    assert "<script" not in html and "<link" not in html
    assert len(pd.read_csv(paths["csv"])) == n_trials
    for m in re.finditer(r"\]\((figures/[^)]+\.png)\)", md):
        assert (paths["md"].parent / m.group(1)).is_file()
    return md, html


@pytest.fixture(scope="module")
def factorial(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], pd.DataFrame]:
    trials, curves, meta = synthetic_sweep(
        {**EFFECTS, "optimizer.lr": {0.001: 0.0, 0.01: -0.01}},
        n_seeds=4,
        fail=0.05,
        seed=1,
        conditional={"neck.p": ("neck", "GeneralizedMeanPooling", 3.0)},
    )
    out = tmp_path_factory.mktemp("factorial")
    return write_report(trials, curves, meta, out), trials


def test_factorial_report_has_every_section_and_is_self_contained(factorial):
    paths, trials = factorial
    md, html = _check_files(paths, len(trials))
    assert html.count('src="data:image/png;base64,') >= 6
    assert "neck × head" in md
    assert "Interaction p = " in md
    assert "within seed noise" in md or "better" in md
    assert "CUDA out of memory" in md  # the failed trials' exception line
    cells = pd.read_csv(paths["cells_csv"])
    assert cells["n"].sum() == (trials["status"] == "FINISHED").sum()


def test_duplicate_cell_seed_rows_do_not_double_count(tmp_path: Path):
    trials, curves, meta = synthetic_sweep(EFFECTS, n_seeds=3, epochs=3)
    rerun = trials.head(4).assign(trial_id=lambda d: d["trial_id"] + "-rerun")
    rerun["val/top1"] += 0.5  # would move the means if it were added, not substituted
    t = pd.concat([trials, rerun], ignore_index=True)
    paths = write_report(t, curves, meta, tmp_path)
    md, _ = _check_files(paths, len(t))
    assert "4 duplicate finished trial(s)" in md
    res = pd.read_csv(paths["csv"])
    assert res["counted"].sum() == len(trials)
    assert res.loc[res["counted"], ["cell", "seed"]].duplicated().sum() == 0
    cells = pd.read_csv(paths["cells_csv"])
    assert (cells["n"] == 3).all()


def test_all_failed_sweep_still_explains_itself(tmp_path: Path):
    trials, curves, meta = synthetic_sweep(EFFECTS, n_seeds=2, fail=1.0)
    paths = write_report(trials, curves, meta, tmp_path)
    md, _html = _check_files(paths, len(trials))
    assert "No trial finished" in md
    assert md.count(NO_FINISHED) == 7  # sections 2-8
    assert "torch.OutOfMemoryError: CUDA out of memory" in md


def test_single_dimension_sweep(tmp_path: Path):
    trials, curves, meta = synthetic_sweep({"neck": EFFECTS["neck"]}, n_seeds=3)
    paths = write_report(trials, curves, meta, tmp_path)
    md, _ = _check_files(paths, len(trials))
    assert "One dimension only: no interactions." in md
    assert "One dimension only: its importance is 1 by definition." in md or "needs at least" in md


def test_random_search_with_single_seeds_and_no_curves(tmp_path: Path):
    rng = np.random.default_rng(0)
    n = 40
    lr = 10 ** rng.uniform(-4, -2, n)
    neck = rng.choice(["avg", "gem"], n)
    y = 0.7 + 0.02 * (neck == "gem") - 0.01 * np.log10(lr) + 0.01 * rng.standard_normal(n)
    trials = pd.DataFrame(
        {
            "trial_id": [f"t{i}" for i in range(n)],
            "cell": [f"c{i}" for i in range(n)],
            "seed": 0,
            "status": "FINISHED",
            "error": None,
            "duration_s": 10.0,
            "val/top1": y,
            "param.neck": neck,
            "param.optimizer.lr": lr,
            "param.neck.p": np.where(neck == "gem", rng.uniform(1, 5, n), np.nan),  # conditional
        }
    )
    dims = ["neck", "neck.p", "optimizer.lr"]
    meta = SweepMeta(name="rand", metric="val/top1", strategy="random", dimensions=dims)
    paths = write_report(trials, None, meta, tmp_path)
    md, _ = _check_files(paths, n)
    assert "not enough seeds" in md
    assert "across cells" in md  # no replicates: marginal CIs across cell means
    assert "LOWESS" in md
    assert "No per-epoch values" in md
    assert "### neck.p (numeric)" in md and " to " in md  # binned where it applies


def test_one_at_a_time_min_mode(tmp_path: Path):
    rows = []
    for cell, neck, head, mu in [
        ("b", "avg", "lin", 1.0),
        ("n", "gem", "lin", 0.9),
        ("h", "avg", "bn", 1.2),
    ]:
        for s in range(3):
            rows.append(
                dict(trial_id=f"{cell}{s}", cell=cell, seed=s, status="FINISHED", error=None,
                     duration_s=1.0, **{"val/loss": mu + 0.01 * s, "param.neck": neck, "param.head": head})
            )  # fmt: skip
    meta = {
        "name": "oat",
        "metric": "val/loss",
        "mode": "min",
        "strategy": "one_at_a_time",
        "baseline": {"neck": "avg", "head": "lin"},
        "dimensions": ["neck", "head"],
    }
    paths = write_report(pd.DataFrame(rows), None, meta, tmp_path)
    md, _ = _check_files(paths, 9)
    assert "never crosses two dimensions" in md
    assert "(the baseline from the sweep config)" in md
    assert "lower is better" in md


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "all-failed"])
def test_every_registered_section_builds_through_its_registry(finished: bool) -> None:
    """Each section, fetched from SECTIONS, gives blocks; with no finished trial each still
    says something (why there is nothing to show)."""
    from ablate.report.analysis import analyze
    from ablate.report.frame import prepare
    from ablate.report.render import Figure, Table
    from ablate.report.sections import SECTIONS, Refs, ordered_sections

    trials, curves, meta = synthetic_sweep(
        EFFECTS, n_seeds=3, seed=2, fail=0.0 if finished else 1.0
    )
    a = analyze(prepare(trials, curves, meta))
    refs = Refs({name: n for n, (name, _) in enumerate(ordered_sections(), start=1)})
    for name, cls in SECTIONS.items():
        blocks = cls().build(a, refs)
        assert blocks, name
        assert all(isinstance(b, str | Table | Figure) for b in blocks), name
        if not finished and name not in ("how_to_read", "failures"):
            assert NO_FINISHED in blocks, name


def test_a_path_to_the_best_says_where_its_target_came_from(tmp_path: Path):
    trials, curves, meta = synthetic_sweep(EFFECTS, n_seeds=4, noise=0.005, seed=3)
    cell = {
        (r["param.neck"], r["param.head"]): r["cell"]
        for _, r in trials.drop_duplicates("cell").iterrows()
    }
    base, gem = (
        cell[("GlobalAvgPool", "LinearHead")],
        cell[("GeneralizedMeanPooling", "LinearHead")],
    )
    best = cell[("GeneralizedMeanPooling", "BNNeckHead")]
    path = [{"flip": "baseline", "cell": base, "raced": {}},
            {"flip": "neck", "cell": gem, "raced": {"neck": 4, "head": 2}},
            {"flip": "head", "cell": best, "raced": {"head": 4}}]  # fmt: skip
    mean = float(trials.loc[(trials["cell"] == best) & (trials["seed"] < 2), "val/top1"].mean())
    target = {"how": "best", "cell": best, "point": {}, "mean": mean, "seeds": [0, 1],
              "screened": 4}  # fmt: skip
    meta = SweepMeta(**{**meta.__dict__, "strategy": "ablation_path", "path": path,
                        "target": target})  # fmt: skip
    md = write_report(trials, curves, meta, tmp_path)["md"].read_text(encoding="utf-8")
    section = md.split("## 6. Ablation path")[1].split("## 7.")[0]
    assert "is the best of 4 cells screened on seeds [0, 1] (mean " in section
    assert "figures/ablation_path" in section


WARMED = """
import sys, tempfile
sys.path.insert(0, {here!r})
from synthetic import synthetic_sweep
from ablate.report import warm_imports, write_report

trials, curves, meta = synthetic_sweep({effects!r}, n_seeds=3, seed=2)
warm_imports()
before = set(sys.modules)
write_report(trials, curves, meta, tempfile.mkdtemp())
late = sorted({{m.split(".")[0] for m in set(sys.modules) - before}})  # top-level packages
print(late)
"""


def test_warm_imports_leaves_the_report_nothing_to_import() -> None:
    """A driver warms the report's imports while its trials train; whatever a report still
    imports after that is paid after the last trial."""
    import subprocess
    import sys

    script = WARMED.format(here=str(Path(__file__).parent), effects=EFFECTS)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    late = eval(done.stdout.strip().splitlines()[-1])
    heavy = {"matplotlib", "optuna", "scipy", "sklearn", "statsmodels"}
    assert not heavy & set(late), late


def test_warm_imports_leaves_importance_out_where_nothing_is_ranked() -> None:
    """A single-cell sweep's driver does not spend 1.6 s of CPU on scikit-learn's forests."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from ablate.report import warm_imports\n"
        "warm_imports(importance=False)\n"
        "assert 'optuna' in sys.modules and 'matplotlib.pyplot' in sys.modules\n"
        "assert 'optuna.importance' not in sys.modules and 'sklearn' not in sys.modules\n"
        "warm_imports()\n"
        "assert 'optuna.importance' in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
