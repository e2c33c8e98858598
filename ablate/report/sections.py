"""The eight report sections, each built from an :class:`Analysis`. Every section is present in
every report; when it has nothing to show it says why."""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from ablate.report import figures, stats
from ablate.report.analysis import Analysis, pval, seconds, value_text
from ablate.report.frame import FINISHED, Dim
from ablate.report.render import Figure, Section, Table

TITLES = (
    "1. How to read this",
    "2. Leaderboard of cells",
    "3. Marginal effect of each dimension",
    "4. Interactions",
    "5. Difference from the reference cell",
    "6. Parameter importance",
    "7. Learning curves",
    "8. Failed trials",
)
MAX_TABLE_ROWS = 50
MAX_PAIRS = 15
NO_FINISHED = (
    "No finished trials, so there is nothing to show here; section 8 lists why they failed."
)


def _capped(df: pd.DataFrame, what: str) -> tuple[pd.DataFrame, str]:
    if len(df) <= MAX_TABLE_ROWS:
        return df, ""
    note = f"First {MAX_TABLE_ROWS} of {len(df)} {what}; results.csv has all."
    return df.head(MAX_TABLE_ROWS), note


def error_line(err: object) -> str:
    """The line of an error worth reading: a traceback's exception line, else the first line."""
    if err is None or (isinstance(err, float) and pd.isna(err)):
        return ""
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return line if len(line) <= 160 else line[:159] + "…"


def how_to_read(a: Analysis) -> Section:
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
    if runs:
        facts.append(f"- Merged from {runs} sweep invocation(s).")
    if a.prep.n_superseded:
        facts.append(
            f"- {a.prep.n_superseded} duplicate finished trial(s) of the same (cell, seed) were "
            "dropped; only the latest counts (see the `note` column of results.csv)."
        )
    blocks: list = ["\n".join(facts)]
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
        blocks.append(f"**No trial finished.**{top} See section 8.")
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
    return Section(TITLES[0], blocks)


def _dim_columns(a: Analysis, frame: pd.DataFrame) -> pd.DataFrame:
    cols = {d.name: frame[d.name].map(value_text) for d in a.prep.dims}
    return pd.DataFrame(cols, index=frame.index)


def _numeric_dims(a: Analysis) -> set[str]:
    return {d.name for d in a.prep.dims if not d.categorical}


def leaderboard(a: Analysis) -> Section:
    s = Section(TITLES[1])
    if not len(a.cells):
        s.blocks.append(NO_FINISHED)
        return s
    c = a.cells
    df = pd.DataFrame({"rank": c["rank"].astype(str), "cell": c["cell_id"]}, index=c.index)
    df = df.join(_dim_columns(a, c))
    df["n"] = c["n"].astype(str)
    df["mean"] = c["mean"].map(a.num)
    df["95% CI"] = [a.ci(lo, hi) for lo, hi in zip(c["ci_low"], c["ci_high"])]
    df["std"] = c["std"].map(a.num)
    df["trial-s"] = c["cost_s"].map(seconds)
    df, note = _capped(df, "cells")
    num = {"rank", "n", "mean", "95% CI", "std", "trial-s"} | _numeric_dims(a)
    s.blocks.append(
        f"Cells ranked by mean `{a.metric}` over seeds. trial-s is the wall time summed over the "
        "cell's counted trials. Overlapping intervals mean the ranking between them is not settled."
    )
    s.blocks.append(Table(df, num, note))
    png = figures.forest(list(c["label"]), c["mean"], c["ci_low"], c["ci_high"], a.metric)
    s.blocks.append(
        Figure(png, "leaderboard", f"Cell means with 95% CIs (top {figures.MAX_ROWS}).")
    )
    return s


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


def marginals(a: Analysis) -> Section:
    s = Section(TITLES[2])
    if not len(a.cells):
        s.blocks.append(NO_FINISHED)
        return s
    s.blocks.append(
        "Per choice of a dimension: the mean of the means of the cells holding it, so every cell "
        "weighs the same whatever its seed count. Δ is the difference to the reference choice "
        "(the reference cell's, else the best), Holm-corrected within the dimension. "
        "Numeric dimensions with many values are grouped into quantile bins; a conditional "
        "dimension is compared over the cells where it applies."
        + (
            " One-at-a-time sweep: each dimension is compared only over the cells that differ "
            "from the baseline in it alone."
            if a.prep.meta.strategy == "one_at_a_time"
            else ""
        )
    )
    for k, d in enumerate(a.prep.dims):
        s.blocks += _marginal_block(a, d, k)
    return s


def interactions(a: Analysis) -> Section:
    s = Section(TITLES[3])
    if not len(a.cells):
        s.blocks.append(NO_FINISHED)
        return s
    dims = a.prep.dims
    leveled = [
        d for d in dims
        if a.cells[d.name].nunique() > 1 and (d.categorical or a.cells[d.name].nunique() <= stats.MAX_LEVELS)
    ]  # fmt: skip
    pairs = [(x, y) for x, y in combinations(leveled, 2) if not (y.nested_in(x) or x.nested_in(y))]
    if len(dims) == 1:
        s.blocks.append("One dimension only: no interactions.")
        return s
    if a.prep.meta.strategy == "one_at_a_time":
        s.blocks.append("A one-at-a-time sweep never crosses two dimensions: no interactions.")
        return s
    if not pairs:
        s.blocks.append("Fewer than two varying categorical dimensions: no interactions.")
        return s
    s.blocks.append(
        "Mean of cell means for each pair of choices (categorical dimensions, and numeric ones "
        "with few values). An interaction means the best choice of one depends on the other."
    )
    for k, (x, y) in enumerate(pairs[:MAX_PAIRS]):
        pivot, p, why = stats.interaction(a.prep.done, a.cells, x, y, a.metric)
        df = pivot.map(a.num).reset_index()
        df.columns = [f"{x.name} \\ {y.name}", *map(str, pivot.columns)]
        s.blocks.append(f"### {x.name} × {y.name}")
        s.blocks.append(Table(df, set(df.columns[1:])))
        s.blocks.append(
            f"Interaction p = {pval(p)} ({why})." if p is not None else f"{why.capitalize()}."
        )
        png = figures.heatmap(pivot, a.metric, a.prep.meta.mode)
        s.blocks.append(
            Figure(png, f"interaction_{k}", f"{x.name} × {y.name}: mean of cell means.")
        )
    if len(pairs) > MAX_PAIRS:
        s.blocks.append(f"Showing {MAX_PAIRS} of {len(pairs)} pairs.")
    return s


def reference_diff(a: Analysis) -> Section:
    s = Section(TITLES[4])
    if not len(a.cells) or a.reference is None:
        s.blocks.append(NO_FINISHED)
        return s
    cmp = stats.compare_to_reference(
        a.prep.done, a.cells.reset_index(), a.metric, a.prep.meta.mode, a.reference
    )
    cmp = cmp.set_index("cell")
    s.blocks.append(
        f"Reference: **{a.labels[a.reference]}** ({a.ref_why}). Δ = cell − reference. "
        "Test: `paired (k)` is a paired t-test over k shared seeds, used when one cell's seeds "
        "contain the other's (pairing cancels the noise a seed shares across cells); else "
        "`Welch`, Welch's t-test. p-values are "
        "Holm-corrected over all cells. The verdict uses the Holm p; the CI is per comparison, "
        "so it can exclude 0 while the verdict stays 'within seed noise'."
    )
    if a.cells.at[a.reference, "n"] < 2:
        s.blocks.append(
            "The reference has fewer than two seeds, so no cell can be tested against it."
        )
    df = pd.DataFrame({"cell": [a.names[c] for c in cmp.index]}, index=cmp.index)
    df = df.join(_dim_columns(a, a.cells))
    df["n"] = cmp["n"].astype(str)
    df["Δ"] = [
        "ref" if c == a.reference else a.num(x, True) for c, x in zip(cmp.index, cmp["diff"])
    ]
    df["Δ 95% CI"] = [a.ci(lo, hi, True) for lo, hi in zip(cmp["diff_low"], cmp["diff_high"])]
    df["test"] = cmp["test"]
    df["p (Holm)"] = cmp["p_holm"].map(pval)
    df["verdict"] = cmp["flag"]
    df, note = _capped(df, "cells")
    s.blocks.append(Table(df, {"n", "Δ", "Δ 95% CI", "p (Holm)"} | _numeric_dims(a), note))
    counts = cmp["flag"].value_counts()
    s.blocks.append(", ".join(f"{n} {f}" for f, n in counts.items()) + ".")
    others = cmp.drop(index=a.reference)
    if len(others):
        png = figures.forest(
            [a.labels[c] for c in others.index], others["diff"], others["diff_low"], others["diff_high"],
            f"Δ {a.metric} vs {a.names[a.reference]}",
            colours=[figures.FLAG_COLOURS[f] for f in others["flag"]], zero=0.0,
        )  # fmt: skip
        s.blocks.append(
            Figure(png, "reference_diff", "Δ from the reference with 95% CIs, coloured by verdict.")
        )
    return s


def importance(a: Analysis) -> Section:
    from ablate.report.importance import param_importance

    s = Section(TITLES[5])
    if not len(a.cells):
        s.blocks.append(NO_FINISHED)
        return s
    s.blocks.append(
        "Optuna's importance evaluators on an in-memory study of the finished trials. PED-ANOVA: "
        "how much a dimension matters for reaching the best trials; fANOVA: its share of the "
        "variance between cell means. Both sum to 1 and give every dimension some share, even one "
        "with no real effect; section 3 says which effects exceed seed noise."
    )
    table, notes = param_importance(a.prep.done, a.cells, a.prep.dims, a.metric, a.prep.meta.mode)
    if table is not None:
        fmt = lambda x: "—" if pd.isna(x) else f"{x:.3f}"  # noqa: E731
        df = pd.DataFrame(
            {"dimension": table["dimension"], "PED-ANOVA": table["ped_anova"].map(fmt),
             "fANOVA (cell means)": table["fanova"].map(fmt)}
        )  # fmt: skip
        s.blocks.append(Table(df, {"PED-ANOVA", "fANOVA (cell means)"}))
        s.blocks.append(
            Figure(figures.importance_bars(table), "importance", "Parameter importance.")
        )
    else:
        s.blocks.append("Parameter importance could not be computed.")
    s.blocks.append("\n".join(f"- {n}" for n in notes))
    return s


def learning_curves(a: Analysis) -> Section:
    s = Section(TITLES[6])
    if not len(a.cells):
        s.blocks.append(NO_FINISHED)
        return s
    cv = a.prep.curves
    cv = cv[(cv["metric"] == a.metric) & cv["trial_id"].isin(a.prep.done["trial_id"])]
    if cv.empty:
        have = sorted(map(str, a.prep.curves["metric"].unique()))
        s.blocks.append(
            f"No per-epoch values of `{a.metric}` were logged"
            + (f" (logged: {', '.join(have)})." if have else ".")
        )
        return s
    cv = cv.merge(a.prep.done[["trial_id", "cell"]], on="trial_id")
    means = cv.groupby(["cell", "step"], as_index=False)["value"].mean()
    order = list(a.cells.index)
    if a.reference in order:
        order.remove(a.reference)
        order.insert(0, a.reference)
    s.blocks.append(
        f"Mean over seeds of `{a.metric}` per epoch for each cell; the reference and the best "
        f"{figures.MAX_LINES - 1} cells are coloured, the rest grey. An epoch some seeds did not "
        "reach is the mean of the seeds that did."
    )
    png = figures.curves(means, order, a.labels, a.metric, a.reference)
    s.blocks.append(Figure(png, "curves", f"{a.metric} per epoch, mean over seeds."))
    return s


def failures(a: Analysis) -> Section:
    s = Section(TITLES[7])
    t = a.prep.trials
    bad = t[
        (t["status"] != FINISHED)
        | ((t["note"] != "") & ~t["counted"] & ~t["note"].str.startswith("duplicate"))
    ]
    if bad.empty:
        s.blocks.append("No failed trials.")
        return s
    counts = bad["status"].value_counts()
    s.blocks.append(
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
        s.blocks += ["### By error", Table(summary, {"trials"}), "### Every trial"]
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
    df, note = _capped(df, "failed trials")
    s.blocks.append(Table(df, {"seed"}, note))
    return s


BUILDERS = (
    how_to_read,
    leaderboard,
    marginals,
    interactions,
    reference_diff,
    importance,
    learning_curves,
    failures,
)
