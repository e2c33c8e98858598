"""Pure statistics on the finished, deduplicated trials: no files, no figures.

Every interval and test comes from SciPy or statsmodels. The unit of replication is the seed:
a cell's spread across seeds is the noise every difference is judged against.

Marginal effects ("what does choice X of a dimension do, over everything else?") are the
*mean of cell means* over the cells holding that choice. Each cell weighs the same however many
seeds it finished, so a choice is not favoured because its cells happened to get more seeds or
fewer failures; in a factorial this is the classical estimated marginal mean. Its interval comes
from the cell-means linear model ``metric ~ 0 + C(cell)`` (statsmodels OLS, seed noise pooled
across cells) as a linear contrast. When no cell has two seeds there is no seed-noise estimate;
the interval is then a t-interval across the cell means (cells as the sample), which also
carries the variation due to the other dimensions and is wider.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ablate.report.frame import NA, Dim

CONFIDENCE = 0.95
MAX_LEVELS = 6  # numeric dims with more distinct values are binned
N_BINS = 5

BETTER, WORSE, NOISE, FEW, REF = (
    "better",
    "worse",
    "within seed noise",
    "not enough seeds",
    "reference",
)


def t_interval(x: Any, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided t-interval of the mean; NaN for fewer than two values."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return np.nan, np.nan
    m, se = float(x.mean()), float(stats.sem(x))
    if se == 0:
        return m, m
    lo, hi = stats.t.interval(confidence, len(x) - 1, loc=m, scale=se)
    return float(lo), float(hi)


def holm(p: Any) -> np.ndarray:
    """Holm-adjusted p-values (statsmodels ``multipletests``).

    statsmodels' Holm branch ends in a full ``gc.collect()`` (statsmodels PR #8671 proposed
    removing it), which costs ~0.2 s per call with pandas and matplotlib loaded. Freezing the
    existing objects first limits that collection to the few objects the call itself made.
    """
    from statsmodels.stats.multitest import multipletests

    from ablate import heap

    with heap.frozen():
        return np.asarray(multipletests(np.asarray(p, dtype=float), method="holm")[1])


def cell_table(done: pd.DataFrame, metric: str, mode: str) -> pd.DataFrame:
    """Per cell: n, mean, std, 95% t-interval across seeds, cost, ranked best first."""
    from scipy import stats

    g = done.groupby("cell", sort=False)
    tbl = g[metric].agg(n="count", mean="mean", std="std")
    tbl["n"] = tbl["n"].astype(int)
    sem = tbl["std"] / np.sqrt(tbl["n"])
    with np.errstate(invalid="ignore", divide="ignore"):
        lo, hi = stats.t.interval(
            CONFIDENCE, (tbl["n"] - 1).clip(lower=1), loc=tbl["mean"], scale=sem
        )
    few = tbl["n"] < 2
    tbl["ci_low"] = np.where(few, np.nan, np.where(sem == 0, tbl["mean"], lo))
    tbl["ci_high"] = np.where(few, np.nan, np.where(sem == 0, tbl["mean"], hi))
    tbl["cost_s"] = g["duration_s"].sum()
    tbl = tbl.sort_values("mean", ascending=(mode == "min"), kind="stable").reset_index()
    tbl.insert(0, "rank", np.arange(1, len(tbl) + 1))
    return tbl


class CellModel:
    """The cell-means model ``metric ~ 0 + C(cell)``: one mean per cell, seed noise pooled.

    Linear contrasts of cell means (a marginal mean, a difference of two marginal means) get
    their estimate, t-interval and p-value from ``statsmodels`` ``OLSResults.t_test``.
    """

    def __init__(self, done: pd.DataFrame, metric: str) -> None:
        self.cells = list(pd.unique(done["cell"]))
        self.df_resid = len(done) - len(self.cells)
        self.fit = None
        if self.df_resid > 0:
            from statsmodels.regression.linear_model import OLS

            X = pd.get_dummies(done["cell"]).reindex(columns=self.cells).to_numpy(float)
            self.fit = OLS(done[metric].to_numpy(float), X).fit()

    def contrast(self, weights: dict[str, float]) -> tuple[float, float, float, float]:
        """Estimate, CI low, CI high and p (against 0) of ``sum(w * cell mean)``."""
        assert self.fit is not None
        c = np.array([[weights.get(cell, 0.0) for cell in self.cells]])
        tt = self.fit.t_test(c)
        lo, hi = np.asarray(tt.conf_int(alpha=1 - CONFIDENCE)).ravel()
        return float(np.ravel(tt.effect)[0]), float(lo), float(hi), float(np.ravel(tt.pvalue)[0])


def from_baseline(strategy: str) -> bool:
    """Whether the named strategy varies dimensions one at a time from the baseline (its
    :attr:`~ablate.search.strategies.Strategy.varies_from_baseline`). A strategy this process
    does not know (a plugin's, not installed here) counts as crossed."""
    from ablate.search.strategies import STRATEGIES

    if strategy not in STRATEGIES.names():
        return False
    return bool(getattr(STRATEGIES.get(strategy), "varies_from_baseline", False))


def comparable_cells(
    cells: pd.DataFrame, dim: Dim, dims: list[Dim], strategy: str, base: str | None
) -> pd.DataFrame:
    """The cells whose average is fair for ``dim``.

    In a sweep that varies from the baseline (one_at_a_time, ablation_path) only the cells that differ from the baseline in ``dim`` alone
    (and in the dimensions nested under it, which change with it) are comparable; averaging
    the baseline choice over every other variation would not be. A nested dimension
    (``neck.p``) may also differ in its parents (``neck``), since it exists only under some of
    their choices. Elsewhere: all cells.
    """
    if not from_baseline(strategy) or base is None or base not in cells.index:
        return cells
    b = cells.loc[base]

    def same(o: Dim) -> pd.Series:
        return cells[o.name].eq(b[o.name]) | (cells[o.name].isna() & pd.isna(b[o.name]))

    keep = pd.Series(True, index=cells.index)
    parents = [o for o in dims if dim.nested_in(o)]
    changed = ~same(dim)
    for o in dims:
        if o == dim or o in parents or any(o.nested_in(p) for p in parents):
            continue
        keep &= same(o) | (changed if o.nested_in(dim) else False)
    return cells[keep]


def levels_of(cells: pd.DataFrame, dim: Dim) -> pd.Series:
    """Each cell's level label for ``dim``: the choice, the number, or a quantile bin."""
    v = cells[dim.name]
    if dim.categorical:
        return v.astype(str)
    if v.nunique() > MAX_LEVELS:
        code = pd.qcut(v, N_BINS, labels=False, duplicates="drop")
        span = v.groupby(code).agg(["min", "max"])  # label bins by the values they hold
        names = {k: f"{lo:.3g} to {hi:.3g}" for k, (lo, hi) in span.iterrows()}
        return code.map(names).astype(object).fillna(NA)
    return v.map(lambda x: NA if pd.isna(x) else f"{x:g}").astype(object)


def numeric_order(labels: Any) -> list[str]:
    """Numeric level labels (``0.01``, ``0.1 to 0.3``) in increasing order."""

    def key(s: str) -> float:
        try:
            return float(str(s).split(" to ")[0])
        except ValueError:
            return float("inf")

    return sorted(labels, key=key)


def marginal_effects(
    done: pd.DataFrame,
    cells: pd.DataFrame,
    dim: Dim,
    dims: list[Dim],
    metric: str,
    mode: str,
    strategy: str,
    base: str | None,
    model: CellModel | None = None,
) -> pd.DataFrame:
    """Per level of ``dim``: mean of cell means, its 95% CI, and the difference to the reference
    level (the baseline's choice, else the best level) with its CI and p-value.

    Args:
        done: Counted trials (``cell``, ``metric``).
        cells: Per-cell dimension values (index: cell; columns: dim names) and ``mean``.
    """
    from scipy import stats

    model = model or CellModel(done, metric)
    sub = comparable_cells(cells, dim, dims, strategy, base)
    lv = levels_of(sub, dim)
    sub, lv = sub[lv != NA], lv[lv != NA]  # a conditional dim is compared where it applies
    n_trials = done.groupby("cell").size()
    rows = []
    for level, idx in lv.groupby(lv, sort=False).groups.items():
        means = sub.loc[idx, "mean"]
        if model.fit is not None:
            est, lo, hi, _ = model.contrast({c: 1 / len(idx) for c in idx})
            how = "seed noise (cell-means OLS)"
        else:
            est, (lo, hi) = float(means.mean()), t_interval(means)
            how = "across cells"
        rows.append(
            dict(level=level, cells=len(idx), trials=int(n_trials.reindex(idx).sum()),
                 mean=est, ci_low=lo, ci_high=hi, ci_from=how, _idx=list(idx))
        )  # fmt: skip
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    if dim.categorical:
        out = out.sort_values("mean", ascending=(mode == "min"), kind="stable")
    else:
        out = out.set_index("level").loc[numeric_order(out["level"])].reset_index()
    out = out.reset_index(drop=True)
    ref_level = None
    if base is not None and base in sub.index:
        ref_level = lv[base]
    ref = out[out["level"] == ref_level].iloc[0] if ref_level in set(out["level"]) else out.iloc[0]
    diffs = []
    for _, r in out.iterrows():
        if r["level"] == ref["level"]:
            diffs.append((0.0, np.nan, np.nan, np.nan))
        elif model.fit is not None:
            w = {c: 1 / len(r["_idx"]) for c in r["_idx"]}
            for c in ref["_idx"]:
                w[c] = w.get(c, 0.0) - 1 / len(ref["_idx"])
            diffs.append(model.contrast(w))
        else:
            a, b = sub.loc[r["_idx"], "mean"], sub.loc[ref["_idx"], "mean"]
            d = float(a.mean() - b.mean())
            if min(len(a), len(b)) >= 2 and (a.var() + b.var()) > 0:
                res = stats.ttest_ind(a, b, equal_var=False)
                ci = res.confidence_interval(CONFIDENCE)
                diffs.append((d, float(ci.low), float(ci.high), float(res.pvalue)))
            else:
                diffs.append((d, np.nan, np.nan, np.nan))
    out[["diff", "diff_low", "diff_high", "p"]] = pd.DataFrame(diffs, index=out.index)
    out["reference"] = out["level"] == ref["level"]
    out["p_holm"] = np.nan
    tested = out["p"].notna()
    if tested.any():
        out.loc[tested, "p_holm"] = holm(out.loc[tested, "p"])
    return out.drop(columns="_idx")


def interaction(
    done: pd.DataFrame, cells: pd.DataFrame, a: Dim, b: Dim, metric: str
) -> tuple[pd.DataFrame, float | None, str]:
    """Mean of cell means per (a, b) pair, and the two-way ANOVA interaction p-value.

    The p-value comes from ``metric ~ C(a) * C(b)`` on the trials (statsmodels ``anova_lm``,
    type II). The other dimensions are left in the residual, which makes it conservative. It is
    only computed when every pair was run and there are more trials than pairs.

    Returns:
        (pivot table: rows a's levels, columns b's levels), p-value or None, a note.
    """
    la, lb = levels_of(cells, a), levels_of(cells, b)
    frame = pd.DataFrame({"a": la, "b": lb, "mean": cells["mean"]})
    pivot = frame.pivot_table(index="a", columns="b", values="mean", aggfunc="mean", sort=False)
    if not a.categorical:
        pivot = pivot.loc[numeric_order(pivot.index)]
    if not b.categorical:
        pivot = pivot[numeric_order(pivot.columns)]
    pivot.index.name, pivot.columns.name = a.name, b.name
    if pivot.isna().to_numpy().any():
        return pivot, None, "not every pair was run, so no interaction test"
    if min(pivot.shape) < 2:
        return pivot, None, "one level only, so no interaction test"
    t = pd.DataFrame({"y": done[metric].to_numpy(float)})
    t["a"] = done["cell"].map(la).to_numpy()
    t["b"] = done["cell"].map(lb).to_numpy()
    if len(t) <= pivot.size:
        return pivot, None, "no seed replicates, so no interaction test"
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    fit = ols("y ~ C(a) * C(b)", data=t).fit()
    p = float(anova_lm(fit, typ=2).loc["C(a):C(b)", "PR(>F)"])
    return pivot, p, "two-way ANOVA interaction test (other dimensions pooled into noise)"


def find_baseline(
    cells: pd.DataFrame, dims: list[Dim], baseline: dict[str, Any] | None
) -> tuple[str | None, str]:
    """The finished cell matching ``baseline`` (dim -> value), or None and the reason.

    Dimensions the baseline leaves out match anything; a None value matches "does not apply".
    """
    if not baseline:
        return None, "no baseline was given"
    names = {d.name: d for d in dims}
    unknown = [k for k in baseline if k not in names]
    if unknown:
        return None, f"the baseline names unknown dimension(s) {unknown}"
    keep = pd.Series(True, index=cells.index)
    for k, v in baseline.items():
        col = cells[k]
        if v is None or (isinstance(v, float) and np.isnan(v)):
            keep &= col.isna() | (col.astype(str) == NA)
        elif names[k].categorical:
            keep &= col.astype(str) == str(v)
        else:
            keep &= np.isclose(pd.to_numeric(col, errors="coerce"), float(v), rtol=1e-9, atol=0)
    found = list(cells.index[keep])
    if not found:
        return None, "no finished cell matches the baseline"
    if len(found) > 1:
        return found[0], f"{len(found)} cells match the baseline; the first-ranked is used"
    return found[0], "the baseline from the sweep config"


def compare_to_reference(
    done: pd.DataFrame, ranked: pd.DataFrame, metric: str, mode: str, reference: str
) -> pd.DataFrame:
    """Each cell against the reference cell, Holm-corrected over all tested cells.

    Paired t-test (``scipy.stats.ttest_rel``) on the shared seeds when the two cells share at
    least two seeds and one cell's seeds contain the other's (a seed gives both cells the same
    data order and init, so pairing removes that shared noise); otherwise Welch's t-test. A
    difference is ``better``/``worse`` when its Holm-adjusted p < 0.05, else "within seed noise";
    a cell (or reference) with fewer than two seeds is "not enough seeds".

    Returns:
        One row per cell in ``ranked`` order: n, mean, diff (cell - reference), its 95% CI,
        test, p, p_holm, flag.
    """
    from scipy import stats

    by_cell = {c: g.set_index("seed")[metric] for c, g in done.groupby("cell", sort=False)}
    ref = by_cell[reference]
    sign = 1.0 if mode == "max" else -1.0
    rows = []
    for cell in ranked["cell"]:
        x = by_cell[cell]
        row: dict[str, Any] = dict(cell=cell, n=len(x), mean=x.mean(), diff=x.mean() - ref.mean())
        row.update(diff_low=np.nan, diff_high=np.nan, test="", p=np.nan, flag=FEW)
        if cell == reference:
            row.update(diff=0.0, flag=REF)
        elif len(x) >= 2 and len(ref) >= 2:
            shared = x.index.intersection(ref.index)
            paired = len(shared) >= 2 and len(shared) == min(len(x), len(ref))
            with warnings.catch_warnings():  # near-identical values: scipy warns, we carry on
                warnings.simplefilter("ignore", RuntimeWarning)
                if paired:
                    res = stats.ttest_rel(x[shared], ref[shared])
                    row.update(
                        test=f"paired ({len(shared)})", diff=(x[shared] - ref[shared]).mean()
                    )
                else:
                    res = stats.ttest_ind(x, ref, equal_var=False)
                    row["test"] = "Welch"
            p = float(res.pvalue)
            if np.isfinite(p):
                ci = res.confidence_interval(CONFIDENCE)
                row.update(diff_low=float(ci.low), diff_high=float(ci.high), p=p)
            else:  # no seed variance in either cell and no difference
                row.update(diff_low=row["diff"], diff_high=row["diff"], p=1.0)
        rows.append(row)
    out = pd.DataFrame(rows)
    tested = out["p"].notna()
    out["p_holm"] = np.nan
    if tested.any():
        out.loc[tested, "p_holm"] = holm(out.loc[tested, "p"])
        sig = tested & (out["p_holm"] < 1 - CONFIDENCE)
        out.loc[tested, "flag"] = NOISE
        out.loc[sig & (sign * out["diff"] > 0), "flag"] = BETTER
        out.loc[sig & (sign * out["diff"] < 0), "flag"] = WORSE
    return out
