"""The learning-curves section: the metric per epoch, mean over seeds, for each cell."""

from __future__ import annotations

from ablate.report import figures
from ablate.report.analysis import Analysis
from ablate.report.render import Block, Figure
from ablate.report.sections.base import (
    SECTIONS,
    Refs,
    ReportSection,
    no_finished,
)


@SECTIONS.register_module("curves")
class LearningCurves(ReportSection):
    """The metric per epoch, mean over seeds, per cell."""

    title = "Learning curves"
    order = 70

    def build(self, a: Analysis, refs: Refs) -> list[Block]:
        blocks: list[Block] = []
        if not len(a.cells):
            blocks.append(no_finished(refs))
            return blocks
        cv = a.prep.curves
        cv = cv[(cv["metric"] == a.metric) & cv["trial_id"].isin(a.prep.done["trial_id"])]
        if cv.empty:
            have = sorted(map(str, a.prep.curves["metric"].unique()))
            blocks.append(
                f"No per-epoch values of `{a.metric}` were logged"
                + (f" (logged: {', '.join(have)})." if have else ".")
            )
            return blocks
        cv = cv.merge(a.prep.done[["trial_id", "cell"]], on="trial_id")
        means = cv.groupby(["cell", "step"], as_index=False)["value"].mean()
        order = list(a.cells.index)
        if a.reference in order:
            order.remove(a.reference)
            order.insert(0, a.reference)
        blocks.append(
            f"Mean over seeds of `{a.metric}` per epoch for each cell; the reference and the best "
            f"{figures.MAX_LINES - 1} cells are coloured, the rest grey. An epoch some seeds did not "
            "reach is the mean of the seeds that did."
        )
        png = figures.curves(means, order, a.labels, a.metric, a.reference)
        blocks.append(Figure(png, "curves", f"{a.metric} per epoch, mean over seeds."))
        return blocks
