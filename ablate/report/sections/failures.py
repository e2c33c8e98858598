"""The failed-trials section: the trials that did not finish, grouped by their error."""

from __future__ import annotations

import pandas as pd

from ablate.layout import FINISHED
from ablate.report.analysis import Analysis, error_line
from ablate.report.render import Block, Table
from ablate.report.sections.base import (
    SECTIONS,
    Refs,
    ReportSection,
    capped,
)


@SECTIONS.register_module("failures")
class Failures(ReportSection):
    """Trials that did not finish, grouped by error."""

    title = "Failed trials"
    order = 80

    def build(self, a: Analysis, refs: Refs) -> list[Block]:
        blocks: list[Block] = []
        t = a.prep.trials
        bad = t[
            (t["status"] != FINISHED)
            | ((t["note"] != "") & ~t["counted"] & ~t["note"].str.startswith("duplicate"))
        ]
        if bad.empty:
            blocks.append("No failed trials.")
            return blocks
        counts = bad["status"].value_counts()
        blocks.append(
            "Trials that did not finish with a value of the metric: "
            + ", ".join(f"{n} {st.lower()}" for st, n in counts.items())
            + ". A note says when a later re-run of the same (cell, seed) finished."
        )
        lines = bad["error"].map(error_line).replace("", "(no error recorded)")
        if len(bad) > 3 and lines.nunique() < len(bad):
            by = pd.DataFrame({"error": lines, "cell": bad["cell"].map(a.names)}).groupby("error")
            summary = by["cell"].agg(trials="size", cells=lambda c: ", ".join(sorted(set(c))))
            summary = summary.sort_values("trials", ascending=False).reset_index()
            summary["cells"] = summary["cells"].map(lambda x: x if len(x) <= 80 else x[:79] + "…")
            summary["trials"] = summary["trials"].astype(str)
            blocks += ["### By error", Table(summary, {"trials"}), "### Every trial"]
        df = pd.DataFrame(
            {
                "trial": bad["trial_id"],
                "cell": bad["cell"].map(a.labels),
                "seed": bad["seed"].astype(str),
                "status": bad["status"],
                "error": bad["error"].map(error_line),
                "note": bad["note"],
            }
        )
        df, note = capped(df, "failed trials")
        blocks.append(Table(df, {"seed"}, note))
        return blocks
