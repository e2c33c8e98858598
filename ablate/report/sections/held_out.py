"""The leaderboard's held-out part: which split selected the cells and which reports them,
and how far val and test disagree for the best cells (the winner's curse a test split
measures). Part of the leaderboard, not a section of its own, so no section number moves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report import figures, stats
from ablate.report.analysis import Analysis
from ablate.report.render import Block, Figure, Table

#: The best cells (by val) compared on test.
BEST = 10
VAL, TEST = "val/", "test/"
HEADING = "### Selection (val) and held-out test"
NUMERIC = {"val rank", "val mean", "test mean", "test 95% CI", "test - val", "test rank"}


def held_out_name(metric: str) -> str | None:
    """``test/top1`` for ``val/top1``; None for a metric of no split."""
    return TEST + metric[len(VAL) :] if metric.startswith(VAL) else None


def held_out_blocks(a: Analysis) -> list[Block]:
    """A subheading, which split selects and which reports, and the best cells on both."""
    test = held_out_name(a.metric)
    done = a.prep.done
    if test is None or test not in done or not done[test].notna().any():
        return [
            HEADING,
            f"`{a.metric}` both selected and ranks the cells: there is no test "
            "split (`evaluation: {test: true}` adds one, measured once at each trial's end). "
            "The best cell's score is then biased upwards: it was picked because it scored "
            "well on the same data.",
        ]
    t = stats.cell_table(done[done[test].notna()], test, a.prep.meta.mode).set_index("cell")
    best = a.cells.head(BEST)
    shown = best.index.intersection(t.index)
    gap = t.loc[shown, "mean"] - best.loc[shown, "mean"]
    df = pd.DataFrame(
        {
            "val rank": best.loc[shown, "rank"].astype(str),
            "cell": best.loc[shown, "label"],
            "val mean": best.loc[shown, "mean"].map(a.num),
            "test mean": t.loc[shown, "mean"].map(a.num),
            "test 95% CI": [a.ci(lo, hi) for lo, hi in t.loc[shown, ["ci_low", "ci_high"]].values],
            "test - val": gap.map(lambda x: a.num(x, signed=True)),
            "test rank": t.loc[shown, "rank"].astype(str),
        },
        index=shown,
    )
    both = a.cells.index.intersection(t.index)
    rho = _spearman(a.cells.loc[both, "mean"], t.loc[both, "mean"])
    top = a.cells.index[0]
    top_rank = str(int(t.at[top, "rank"])) if top in t.index else "—"
    corr = (
        ""
        if rho is None
        else f"; the rank correlation of val and test over {len(both)} cells is {rho:.2f}"
    )
    text = (
        f"Cells were selected and ranked on `{a.metric}` (val); `{test}` reports them. The test "
        "split is measured once, at each trial's end, and never seen by the ranking, by early "
        "stopping or by a proposing strategy.\n\n"
        f"The best cell by val, {a.cells.at[top, 'cell_id']}, ranks {top_rank} of {len(t)} on "
        f"test. Over the {len(shown)} best cells, test - val is "
        f"{a.num(float(gap.mean()), signed=True)} on average"
        f"{corr}."
    )
    png = figures.val_test(a.cells.loc[both, "mean"], t.loc[both, "mean"], a.metric, test)
    return [
        HEADING,
        text,
        Table(df, NUMERIC),
        Figure(png, "held_out", "Cell means, val against test; the dashed line is test = val."),
    ]


def _spearman(x: pd.Series, y: pd.Series) -> float | None:
    if len(x) < 3 or x.nunique() < 2 or y.nunique() < 2:
        return None
    from scipy import stats as sps

    rho = sps.spearmanr(x.to_numpy(float), y.to_numpy(float)).statistic
    return float(rho) if np.isfinite(rho) else None
