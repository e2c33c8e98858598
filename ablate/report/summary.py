"""Each cell's aggregates and verdict, for its MLflow cell run: the numbers the report's
leaderboard and reference sections show, as plain values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ablate.report import stats, verdicts
from ablate.report.analysis import analyze
from ablate.report.frame import SweepMeta, prepare


def cell_summaries(
    trials: pd.DataFrame, curves: pd.DataFrame | None, meta: SweepMeta | Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """``{cell: {"<metric>/mean", "<metric>/ci_low", "<metric>/ci_high", "<metric>/n",
    "verdict"}}`` over every counted trial of the sweep."""
    a = analyze(prepare(trials, curves, meta))
    m = a.prep.meta
    if not len(a.cells) or a.reference is None:
        return {}
    cells = a.cells
    if m.min_effect is not None or m.adaptive:
        v = verdicts.cell_verdicts(
            a.prep.done, m.metric, a.reference, m.mode, m.min_effect, m.adaptive, m.seeds
        )["verdict"]
    else:
        cmp = stats.compare_to_reference(a.prep.done, cells.reset_index(), m.metric, m.mode,
                                         a.reference)  # fmt: skip
        v = cmp.set_index("cell")["flag"]
    out = {}
    for cell, row in cells.iterrows():
        out[str(cell)] = {
            f"{m.metric}/mean": row["mean"],
            f"{m.metric}/ci_low": row["ci_low"],
            f"{m.metric}/ci_high": row["ci_high"],
            f"{m.metric}/n": row["n"],
            "verdict": v.get(cell, verdicts.UNDECIDED),
        }
    return out


__all__ = ["cell_summaries"]
