"""The marginal-effects section: each choice of a dimension against the reference choice."""

from __future__ import annotations

import pandas as pd

from ablate.report import figures, stats, verdicts
from ablate.report.analysis import Analysis, pval
from ablate.report.frame import Dim
from ablate.report.render import Block, Figure, Table
from ablate.report.sections.base import (
    SECTIONS,
    Refs,
    ReportSection,
    no_finished,
)


def _marginal_block(a: Analysis, dim: Dim, k: int) -> list:
    m = a.prep.meta
    cells = a.cells
    me = stats.marginal_effects(
        a.prep.done, cells, dim, a.prep.dims, a.metric, m.mode, m.strategy, a.reference, a.model
    )
    kind = "categorical" if dim.categorical else "numeric"
    out: list = [f"### {dim.name} ({kind})"]
    if len(me) < 2:
        only = me["level"].iloc[0] if len(me) else "none"
        return [
            *out,
            f"`{dim.name}` takes one value in the comparable finished cells ({only}): no effect to show.",
        ]
    ref = me.loc[me["reference"], "level"].iloc[0]
    df = pd.DataFrame(
        {
            "choice" if dim.categorical else "value": me["level"],
            "cells": me["cells"].astype(str),
            "trials": me["trials"].astype(str),
            "mean": me["mean"].map(a.num),
            "95% CI": [a.ci(lo, hi) for lo, hi in zip(me["ci_low"], me["ci_high"])],
            f"Δ vs {ref}": [
                "ref" if r else a.num(x, True) for x, r in zip(me["diff"], me["reference"])
            ],
            "Δ 95% CI": [a.ci(lo, hi, True) for lo, hi in zip(me["diff_low"], me["diff_high"])],
            "p (Holm)": me["p_holm"].map(pval),
        }
    )
    if m.min_effect is not None:
        dof = a.model.df_resid if a.model is not None and a.model.fit is not None else 1e6
        df["verdict"] = verdicts.interval_verdicts(
            me["diff"], me["diff_low"], me["diff_high"], m.mode, m.min_effect, dof,
        )  # fmt: skip
    num = set(df.columns) - {"choice", "value"}
    if not dim.categorical and a.cells[dim.name].nunique() > stats.MAX_LEVELS:
        num -= {"value"}
    out.append(Table(df, num, f"CI from {me['ci_from'].iloc[0]}."))
    if dim.categorical or a.cells[dim.name].nunique() <= stats.MAX_LEVELS:
        sign = 1.0 if m.mode == "max" else -1.0
        colours = [
            figures.FLAG_COLOURS[
                stats.REF if r
                else (stats.BETTER if sign * d > 0 else stats.WORSE) if p < 0.05
                else stats.NOISE
            ]
            for r, d, p in zip(me["reference"], me["diff"], me["p_holm"].fillna(1.0))
        ]  # fmt: skip
        png = figures.forest(
            list(me["level"]), me["mean"], me["ci_low"], me["ci_high"], a.metric, colours
        )
        out.append(
            Figure(png, f"marginal_{k}", f"{dim.name}: mean of cell means per choice with 95% CI; "
                   f"blue the reference, green/red better/worse than it, grey within seed noise.")
        )  # fmt: skip
    else:
        d = a.prep.done
        png = figures.numeric_scatter(d[dim.column], d[a.metric], dim.name, a.metric)
        out.append(Figure(png, f"marginal_{k}", f"{dim.name}: every trial, with a LOWESS trend."))
    return out


@SECTIONS.register_module("marginals")
class Marginals(ReportSection):
    """Per dimension: each choice against the reference choice."""

    title = "Marginal effect of each dimension"
    order = 30

    def build(self, a: Analysis, refs: Refs) -> list[Block]:
        blocks: list[Block] = []
        if not len(a.cells):
            blocks.append(no_finished(refs))
            return blocks
        blocks.append(
            "Per choice of a dimension: the mean of the means of the cells holding it, so every cell "
            "weighs the same whatever its seed count. Δ is the difference to the reference choice "
            "(the reference cell's, else the best), Holm-corrected within the dimension. "
            "Numeric dimensions with many values are grouped into quantile bins; a conditional "
            "dimension is compared over the cells where it applies."
            + (
                " One-at-a-time sweep: each dimension is compared only over the cells that differ "
                "from the baseline in it alone."
                if stats.from_baseline(a.prep.meta.strategy)
                else ""
            )
        )
        for k, d in enumerate(a.prep.dims):
            blocks += _marginal_block(a, d, k)
        return blocks
