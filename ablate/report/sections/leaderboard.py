"""The leaderboard section: cells ranked by their mean over seeds, with 95% intervals, and
the best cells on the held-out test split (:mod:`.held_out`)."""

from __future__ import annotations

import pandas as pd

from ablate.report import figures
from ablate.report.analysis import Analysis, seconds
from ablate.report.render import Block, Figure, Table
from ablate.report.sections.base import (
    SECTIONS,
    Refs,
    ReportSection,
    capped,
    dim_columns,
    no_finished,
    numeric_dims,
)
from ablate.report.sections.confusion import confusion_blocks
from ablate.report.sections.held_out import held_out_blocks


@SECTIONS.register_module("leaderboard")
class Leaderboard(ReportSection):
    """Cells ranked by mean over seeds, with 95% intervals."""

    title = "Leaderboard of cells"
    order = 20

    def build(self, a: Analysis, refs: Refs) -> list[Block]:
        blocks: list[Block] = []
        if not len(a.cells):
            blocks.append(no_finished(refs))
            return blocks
        c = a.cells
        df = pd.DataFrame({"rank": c["rank"].astype(str), "cell": c["cell_id"]}, index=c.index)
        df = df.join(dim_columns(a, c))
        df["n"] = c["n"].astype(str)
        df["mean"] = c["mean"].map(a.num)
        df["95% CI"] = [a.ci(lo, hi) for lo, hi in zip(c["ci_low"], c["ci_high"])]
        df["std"] = c["std"].map(a.num)
        df["trial-s"] = c["cost_s"].map(seconds)
        df, note = capped(df, "cells")
        num = {"rank", "n", "mean", "95% CI", "std", "trial-s"} | numeric_dims(a)
        blocks.append(
            f"Cells ranked by mean `{a.metric}` over seeds. trial-s is the wall time summed over the "
            "cell's counted trials. Overlapping intervals mean the ranking between them is not settled."
        )
        blocks.append(Table(df, num, note))
        png = figures.forest(list(c["label"]), c["mean"], c["ci_low"], c["ci_high"], a.metric)
        blocks.append(
            Figure(png, "leaderboard", f"Cell means with 95% CIs (top {figures.MAX_ROWS}).")
        )
        return blocks + held_out_blocks(a) + confusion_blocks(a)
