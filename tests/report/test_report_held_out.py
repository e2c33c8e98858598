"""The leaderboard's held-out part: which split selects and which reports, and val against
test for the best cells, on a synthetic sweep whose test gap is known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic import synthetic_sweep

from ablate.report import write_report
from ablate.report.analysis import analyze
from ablate.report.frame import prepare
from ablate.report.sections.held_out import held_out_blocks, held_out_name

EFFECTS = {"neck": {"A": 0.0, "B": 0.03, "C": 0.06}, "head": {"x": 0.0, "y": 0.01}}
GAP = -0.02  # every cell's test mean sits this far below its val mean


def _with_test(seed: int = 0):
    trials, curves, meta = synthetic_sweep(EFFECTS, n_seeds=4, noise=0.005, epochs=3, seed=seed)
    rng = np.random.default_rng(seed)
    trials["test/top1"] = trials["val/top1"] + GAP + rng.normal(0, 0.001, len(trials))
    return trials, curves, meta


def test_the_report_says_val_selects_and_test_reports(tmp_path: Path) -> None:
    trials, curves, meta = _with_test()
    md = write_report(trials, curves, meta, tmp_path)["md"].read_text(encoding="utf-8")
    board = md.split("## 2. Leaderboard of cells")[1].split("\n## 3.")[0]
    assert "### Selection (val) and held-out test" in board
    assert "selected and ranked on `val/top1` (val); `test/top1` reports them" in board
    assert "ranks 1 of 6 on test" in board  # the gap is the same for every cell
    assert "rank correlation of val and test over 6 cells is 1.00" in board
    assert "figures/held_out" in board
    assert "Selected on `val/top1` (val); reported on `test/top1`" in md.split("## 2.")[0]


def test_the_gap_shown_is_the_gap_in_the_data() -> None:
    trials, curves, meta = _with_test(seed=3)
    a = analyze(prepare(trials, curves, meta))
    text, table = held_out_blocks(a)[1:3]
    assert f"test - val is {a.num(GAP, signed=True)} on average" in str(text)
    gaps = [float(v) for v in table.df["test - val"]]  # type: ignore[union-attr]
    assert len(gaps) == 6 and all(v == pytest.approx(GAP, abs=2e-3) for v in gaps)


def test_without_a_test_split_the_report_says_val_did_both() -> None:
    trials, curves, meta = synthetic_sweep(EFFECTS, n_seeds=2, epochs=0)
    blocks = held_out_blocks(analyze(prepare(trials, curves, meta)))
    assert len(blocks) == 2 and "there is no test split" in str(blocks[1])
    assert held_out_name("val/mse") == "test/mse" and held_out_name("train/loss") is None


def test_the_best_cell_s_confusion_matrix_is_drawn(tmp_path: Path) -> None:
    trials, curves, meta = _with_test()
    eye = np.eye(3, dtype=int) * 4
    trials["artifact/test/confusion"] = [json.dumps((eye + 1).tolist())] * len(trials)
    paths = write_report(trials, curves, meta, tmp_path)
    md = paths["md"].read_text(encoding="utf-8")
    assert "### Confusion matrix of the best cell (test)" in md
    seeds = int(trials.groupby("cell").size().iloc[0])
    total = 21 * seeds  # 3x3 matrix of 1s plus 4 on the diagonal, per seed
    assert f"summed over its {seeds} seed(s)" in md and f"of {total} test items" in md
    assert (paths["figures"] / "confusion_test.png").is_file()
    assert "artifact/test/confusion" not in pd.read_csv(paths["csv"]).columns


def test_two_cells_have_no_rank_correlation_to_show() -> None:
    trials, curves, meta = synthetic_sweep({"neck": {"A": 0.0, "B": 0.03}}, n_seeds=2, epochs=0)
    trials["test/top1"] = trials["val/top1"] - 0.01
    text = str(held_out_blocks(analyze(prepare(trials, curves, meta)))[1])
    assert "ranks 1 of 2 on test" in text and "rank correlation" not in text
