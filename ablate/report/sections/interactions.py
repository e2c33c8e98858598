"""The interactions section: does the best choice of one dimension depend on another?"""

from __future__ import annotations

from itertools import combinations

from ablate.report import figures, stats
from ablate.report.analysis import Analysis, pval
from ablate.report.render import Block, Figure, Table
from ablate.report.sections.base import (
    SECTIONS,
    Refs,
    ReportSection,
    no_finished,
)

MAX_PAIRS = 15


@SECTIONS.register_module("interactions")
class Interactions(ReportSection):
    """Pairs of dimensions: does the best choice of one depend on the other?"""

    title = "Interactions"
    order = 40

    def build(self, a: Analysis, refs: Refs) -> list[Block]:
        blocks: list[Block] = []
        if not len(a.cells):
            blocks.append(no_finished(refs))
            return blocks
        dims = a.prep.dims
        leveled = [
            d for d in dims
            if a.cells[d.name].nunique() > 1 and (d.categorical or a.cells[d.name].nunique() <= stats.MAX_LEVELS)
        ]  # fmt: skip
        pairs = [
            (x, y) for x, y in combinations(leveled, 2) if not (y.nested_in(x) or x.nested_in(y))
        ]
        if len(dims) == 1:
            blocks.append("One dimension only: no interactions.")
            return blocks
        if stats.from_baseline(a.prep.meta.strategy):
            blocks.append("A one-at-a-time sweep never crosses two dimensions: no interactions.")
            return blocks
        if not pairs:
            blocks.append("Fewer than two varying categorical dimensions: no interactions.")
            return blocks
        blocks.append(
            "Mean of cell means for each pair of choices (categorical dimensions, and numeric ones "
            "with few values). An interaction means the best choice of one depends on the other."
        )
        for k, (x, y) in enumerate(pairs[:MAX_PAIRS]):
            pivot, p, why = stats.interaction(a.prep.done, a.cells, x, y, a.metric)
            df = pivot.map(a.num).reset_index()
            df.columns = [f"{x.name} \\ {y.name}", *map(str, pivot.columns)]
            blocks.append(f"### {x.name} × {y.name}")
            blocks.append(Table(df, set(df.columns[1:])))
            blocks.append(
                f"Interaction p = {pval(p)} ({why})." if p is not None else f"{why.capitalize()}."
            )
            png = figures.heatmap(pivot, a.metric, a.prep.meta.mode)
            blocks.append(
                Figure(png, f"interaction_{k}", f"{x.name} × {y.name}: mean of cell means.")
            )
        if len(pairs) > MAX_PAIRS:
            blocks.append(f"Showing {MAX_PAIRS} of {len(pairs)} pairs.")
        return blocks
