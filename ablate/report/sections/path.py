"""The ablation-path section: the steps from the baseline to the target, with how much of
the gain each change carries (a table and a waterfall figure with CIs)."""

from __future__ import annotations

import pandas as pd

from ablate.report import figures, verdicts
from ablate.report.analysis import Analysis
from ablate.report.render import Block, Figure, Table
from ablate.report.sections.base import SECTIONS, Refs, ReportSection, no_finished


@SECTIONS.register_module("path")
class AblationPath(ReportSection):
    """Fawcett & Hoos's ablation path, step by step."""

    title = "Ablation path"
    order = 55

    def build(self, a: Analysis, refs: Refs) -> list[Block]:
        path = a.prep.meta.path
        if not len(a.cells):
            return [no_finished(refs)]
        if not path:
            return ["Not an ablation-path sweep (`strategy: ablation_path`): no path to show."]
        rows, deltas = _steps(a, path)
        if not rows:
            return ["The path's cells have no finished trials yet."]
        blocks: list[Block] = [
            "From the baseline to the target, one change at a time: each step tried every change "
            "left and kept the best (candidates raced over seeds, losers stopped early). Δ is the "
            "step's change over the previous step (paired on shared seeds, 95% CI); 'share' is its "
            "part of the whole path's change. 'raced' lists each candidate with the seeds it got."
            + _origin(a, a.prep.meta.target)
        ]
        df = pd.DataFrame(rows)
        blocks.append(Table(df, {"n", "mean", "Δ", "Δ 95% CI", "share"}))
        if len(deltas):
            start = float(a.cells.loc[path[0]["cell"], "mean"])
            png = figures.waterfall(
                [d["flip"] for d in deltas], start, [d["diff"] for d in deltas],
                [d["low"] for d in deltas], [d["high"] for d in deltas], a.metric,
            )  # fmt: skip
            blocks.append(
                Figure(png, "ablation_path", "Waterfall: each step's change with its 95% CI.")
            )
        return blocks


def _origin(a: Analysis, target: dict | None) -> str:
    """Where the target came from, in one sentence."""
    if not target:
        return ""
    name = a.names.get(target["cell"], target["cell"])
    if target.get("how") != "best":
        return f" The target ({name}) is tune.target."
    return (
        f" The target ({name}) is the best of {target['screened']} cells screened on seeds "
        f"{target['seeds']} (mean {a.num(target['mean'])} there): a winner picked on those "
        "seeds is optimistic on them, so judge the path's gain by the Δ column's CIs."
    )


def _steps(a: Analysis, path: list[dict]) -> tuple[list[dict], list[dict]]:
    done = a.prep.done
    by_cell = {c: g.set_index("seed")[a.metric].astype(float) for c, g in done.groupby("cell")}
    steps = [s for s in path if s["cell"] in by_cell]
    total = by_cell[steps[-1]["cell"]].mean() - by_cell[steps[0]["cell"]].mean() if steps else 0.0
    rows, deltas = [], []
    prev = None
    for i, s in enumerate(steps):
        x = by_cell[s["cell"]]
        row = {"step": str(i), "change": s["flip"], "cell": a.names.get(s["cell"], s["cell"]),
               "n": str(len(x)), "mean": a.num(x.mean()), "Δ": "—", "Δ 95% CI": "—",
               "share": "—", "raced": ", ".join(f"{k} ({n})" for k, n in s["raced"].items())}  # fmt: skip
        if prev is not None and len(x) >= 2 and len(prev) >= 2:
            c = verdicts.compare(x, prev, None)
            row.update({"Δ": a.num(c.diff, True), "Δ 95% CI": a.ci(c.low, c.high, True)})
            if total:
                row["share"] = f"{c.diff / total:.0%}"
            deltas.append({"flip": s["flip"], "diff": c.diff, "low": c.low, "high": c.high})
        rows.append(row)
        prev = x
    return rows, deltas


__all__ = ["AblationPath"]
