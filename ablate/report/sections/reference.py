"""The reference section: each cell against the reference cell, Holm-corrected, a verdict."""

from __future__ import annotations

import pandas as pd

from ablate.report import figures, stats, verdicts
from ablate.report.analysis import Analysis, pval
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


@SECTIONS.register_module("reference")
class ReferenceDiff(ReportSection):
    """Each cell against the reference cell: a Holm-corrected test and a verdict."""

    title = "Difference from the reference cell"
    order = 50

    def build(self, a: Analysis, refs: Refs) -> list[Block]:
        blocks: list[Block] = []
        if not len(a.cells) or a.reference is None:
            blocks.append(no_finished(refs))
            return blocks
        cmp = stats.compare_to_reference(
            a.prep.done, a.cells.reset_index(), a.metric, a.prep.meta.mode, a.reference
        )
        cmp = cmp.set_index("cell")
        blocks.append(
            f"Reference: **{a.labels[a.reference]}** ({a.ref_why}). Δ = cell − reference. "
            "Test: `paired (k)` is a paired t-test over k shared seeds, used when one cell's seeds "
            "contain the other's (pairing cancels the noise a seed shares across cells); else "
            "`Welch`, Welch's t-test. p-values are "
            "Holm-corrected over all cells. The verdict uses the Holm p; the CI is per comparison, "
            "so it can exclude 0 while the verdict stays 'within seed noise'."
        )
        if a.cells.at[a.reference, "n"] < 2:
            blocks.append(
                "The reference has fewer than two seeds, so no cell can be tested against it."
            )
        df = pd.DataFrame({"cell": [a.names[c] for c in cmp.index]}, index=cmp.index)
        df = df.join(dim_columns(a, a.cells))
        df["n"] = cmp["n"].astype(str)
        df["Δ"] = [
            "ref" if c == a.reference else a.num(x, True) for c, x in zip(cmp.index, cmp["diff"])
        ]
        df["Δ 95% CI"] = [a.ci(lo, hi, True) for lo, hi in zip(cmp["diff_low"], cmp["diff_high"])]
        df["test"] = cmp["test"]
        df["p (Holm)"] = cmp["p_holm"].map(pval)
        df["verdict"] = cmp["flag"]
        m = a.prep.meta
        if m.min_effect is not None or m.adaptive:
            v = verdicts.cell_verdicts(
                a.prep.done, a.metric, a.reference, m.mode, m.min_effect, m.adaptive, m.seeds
            ).reindex(cmp.index)
            df["verdict"] = v["verdict"].fillna(verdicts.UNDECIDED)
            cmp["flag"] = df["verdict"]
            # the verdict's own interval: a repeated CI under adaptive seeds
            has = v["low"].notna()
            cmp.loc[has, "diff_low"], cmp.loc[has, "diff_high"] = v["low"][has], v["high"][has]
            df["Δ 95% CI"] = [
                a.ci(lo, hi, True) for lo, hi in zip(cmp["diff_low"], cmp["diff_high"])
            ]
            if m.adaptive:
                df["look"] = [str(int(x) + 1) if x == x else "—" for x in v["look"]]
            blocks.append(_verdict_note(m.min_effect, m.adaptive))
        paired = cmp["test"].astype(str).str.startswith("paired")
        tested = cmp["test"].astype(str) != ""
        if tested.any():
            blocks.append(_pairing_note(a, int(paired.sum()), int(tested.sum())))
        df, note = capped(df, "cells")
        blocks.append(Table(df, {"n", "Δ", "Δ 95% CI", "p (Holm)"} | numeric_dims(a), note))
        counts = cmp["flag"].value_counts()
        blocks.append(", ".join(f"{n} {f}" for f, n in counts.items()) + ".")
        others = cmp.drop(index=a.reference)
        if len(others):
            png = figures.forest(
                [a.labels[c] for c in others.index], others["diff"], others["diff_low"], others["diff_high"],
                f"Δ {a.metric} vs {a.names[a.reference]}",
                colours=[figures.FLAG_COLOURS.get(f, "#888888") for f in others["flag"]], zero=0.0,
            )  # fmt: skip
            blocks.append(
                Figure(
                    png, "reference_diff", "Δ from the reference with 95% CIs, coloured by verdict."
                )
            )
        return blocks


def _verdict_note(delta: float | None, adaptive: dict | None) -> str:
    eq = (
        f"`equivalent`: the difference lies within ±{delta:g} (min_effect; TOST, two one-sided "
        "t-tests), checked first; "
        if delta is not None
        else "no tune.min_effect, so no cell can be `equivalent`; "
    )
    seq = (
        f" Adaptive seeds ({adaptive['min']}..{adaptive['max']}): each round is a look; every "
        f"hypothesis has a Lan-DeMets {adaptive.get('spending', 'obrien_fleming').replace('_', '-')}"
        "-type group-sequential boundary at its Holm level, so the error rate holds over "
        "the repeated looks (docs/statistics.md)."
        if adaptive
        else ""
    )
    return (
        f"Verdicts: {eq}`better`/`worse`: a difference from 0; `undecided`: neither. "
        "One family over all cells, Holm-corrected (a cell's two null hypotheses cannot both "
        "be true, Shaffer's refinement); the verdict column comes from this family, and the "
        "Δ CI is the verdict's own"
        + (
            " (a repeated CI: it holds over every look at once; "
            "`look` is the round the cell was decided at)."
            if adaptive
            else "."
        )
        + seq
    )


def _pairing_note(a: Analysis, paired: int, tested: int) -> str:
    """Where pairing held: a seed fixes the data order (seed and epoch alone), the split (the
    dataset's own seed) and the initialisation (torch's seed before the build) in every cell,
    unless a dimension changes the data itself."""
    data_dims = [
        d.name for d in a.prep.dims
        if d.name.startswith("data.") and a.cells[d.name].nunique(dropna=False) > 1
    ]  # fmt: skip
    text = (
        f"Pairing held (the same seeds in both cells) for {paired} of {tested} comparisons; "
        "the rest use Welch's test. A seed gives every cell the same data order, split and "
        "initialisation of the components they share"
    )
    if data_dims:
        return (
            text + f"; cells that differ in {', '.join(data_dims)} see other data, so for them "
            "pairing removes only what the seed shares in initialisation."
        )
    return text + ", so the paired test removes that shared noise."
