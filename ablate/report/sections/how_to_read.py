"""The how-to-read section: the sweep in a few facts, its best cell, and the vocabulary."""

from __future__ import annotations

from ablate.report.analysis import Analysis, error_line
from ablate.report.render import Block
from ablate.report.sections.base import (
    SECTIONS,
    Refs,
    ReportSection,
)
from ablate.report.sections.held_out import held_out_name


@SECTIONS.register_module("how_to_read")
class HowToRead(ReportSection):
    """The sweep in a few facts, the best cell, and how to read the rest."""

    title = "How to read this"
    order = 10

    def build(self, a: Analysis, refs: Refs) -> list[Block]:
        m, t, done = a.prep.meta, a.prep.trials, a.prep.done
        better = "higher" if m.mode == "max" else "lower"
        status = t["status"].value_counts()
        counts = ", ".join(f"{n} {s.lower()}" for s, n in status.items())
        runs = m.runs if isinstance(m.runs, int) or m.runs is None else len(m.runs)
        facts = [
            f"- Sweep `{m.name}`, strategy `{m.strategy}`, metric `{m.metric}` ({better} is better).",
            f"- {len(t)} trials ({counts}) in {t['cell'].nunique()} cells; "
            f"{len(done)} finished trials in {len(a.cells)} cells are analysed.",
        ]
        test = held_out_name(m.metric)
        if test is not None and test in done and done[test].notna().any():
            facts.append(
                f"- Selected on `{m.metric}` (val); reported on `{test}`, a held-out test split "
                f"measured once per trial ({refs.section('leaderboard')})."
            )
        if runs:
            facts.append(f"- Merged from {runs} sweep invocation(s).")
        if a.prep.n_superseded:
            facts.append(
                f"- {a.prep.n_superseded} duplicate finished trial(s) of the same (cell, seed) were "
                "dropped; only the latest counts (see the `note` column of results.csv)."
            )
        blocks: list[Block] = ["\n".join(facts)]
        if len(a.cells):
            best = a.cells.iloc[0]
            blocks.append(
                f"**Best cell**: {best['label']}: {a.num(best['mean'])} "
                f"(95% CI {a.ci(best['ci_low'], best['ci_high'])}, n={best['n']})."
            )
        else:
            errs = t["error"].map(error_line)
            errs = errs[errs != ""]
            top = f" Most common error: `{errs.value_counts().index[0]}`." if len(errs) else ""
            blocks.append(f"**No trial finished.**{top} See {refs.section('failures')}.")
        blocks.append(
            "- A **cell** is one configuration without its seed; its seeds are repeats of it. "
            "Differences between seeds are the noise every comparison is judged against.\n"
            "- **95% CI** is a t-interval: over the seeds of one cell, or (marginal effects) over the "
            "cells holding a choice, with seed noise pooled across cells.\n"
            "- **within seed noise** means the difference cannot be told apart from seed-to-seed "
            "variation after Holm correction at 5%. It is not proof of no effect: more seeds "
            "narrow the interval.\n"
            "- Cells with one seed have no interval and are **not enough seeds**.\n"
            "- Cell names (`C01`, ...) rank the cells of this report; results.csv maps them to "
            "trials and the stable `cell` hash."
        )
        return blocks
