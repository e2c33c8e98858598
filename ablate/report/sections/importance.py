"""The parameter-importance section: Optuna's evaluators on the finished trials."""

from __future__ import annotations

import pandas as pd

from ablate.report import figures
from ablate.report.analysis import Analysis
from ablate.report.render import Block, Figure, Table
from ablate.report.sections.base import (
    SECTIONS,
    Refs,
    ReportSection,
    no_finished,
)


@SECTIONS.register_module("importance")
class Importance(ReportSection):
    """Optuna's importance evaluators on the finished trials."""

    title = "Parameter importance"
    order = 60

    def build(self, a: Analysis, refs: Refs) -> list[Block]:
        from ablate.report.importance import param_importance

        blocks: list[Block] = []
        if not len(a.cells):
            blocks.append(no_finished(refs))
            return blocks
        blocks.append(
            "Optuna's importance evaluators on an in-memory study of the finished trials. PED-ANOVA: "
            "how much a dimension matters for reaching the best trials; fANOVA: its share of the "
            "variance between cell means. Both sum to 1 and give every dimension some share, even one "
            f"with no real effect; {refs.section('marginals')} says which effects exceed seed noise."
        )
        table, notes = param_importance(
            a.prep.done, a.cells, a.prep.dims, a.metric, a.prep.meta.mode
        )
        if table is not None:
            fmt = lambda x: "—" if pd.isna(x) else f"{x:.3f}"  # noqa: E731
            df = pd.DataFrame(
                {"dimension": table["dimension"], "PED-ANOVA": table["ped_anova"].map(fmt),
                 "fANOVA (cell means)": table["fanova"].map(fmt)}
            )  # fmt: skip
            blocks.append(Table(df, {"PED-ANOVA", "fANOVA (cell means)"}))
            blocks.append(
                Figure(figures.importance_bars(table), "importance", "Parameter importance.")
            )
        else:
            blocks.append("Parameter importance could not be computed.")
        blocks.append("\n".join(f"- {n}" for n in notes))
        return blocks
