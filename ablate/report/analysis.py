"""Everything the sections share: the ranked cell table, cell names, the reference cell, and
number formatting fitted to the metric's seed noise."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ablate.report import stats
from ablate.report.frame import NA, Dim, Prepared


@dataclass
class Analysis:
    """Attributes:
    prep: The validated inputs.
    cells: Finished cells in rank order; index ``cell``; columns ``rank``, ``cell_id``,
        ``label``, the stats of :func:`stats.cell_table` and one column per dimension name.
    names: Every cell seen (finished or not) -> ``cell_id``.
    labels: Every cell -> ``"C03 neck=GeM, head=BN"``.
    reference: The cell differences are measured from, or None; ``ref_why`` says how chosen.
    model: The pooled cell-means model (None without finished trials).
    decimals: Decimals for metric values, from the typical seed spread.
    """

    prep: Prepared
    cells: pd.DataFrame
    names: dict[str, str]
    labels: dict[str, str]
    reference: str | None
    ref_why: str
    model: stats.CellModel | None
    decimals: int

    @property
    def metric(self) -> str:
        return self.prep.meta.metric

    def num(self, x: float, signed: bool = False) -> str:
        if x is None or not np.isfinite(x):
            return "—"
        return f"{x:+.{self.decimals}f}" if signed else f"{x:.{self.decimals}f}"

    def ci(self, lo: float, hi: float, signed: bool = False) -> str:
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return "—"
        return f"[{self.num(lo, signed)}, {self.num(hi, signed)}]"


def error_line(err: object) -> str:
    """The line of an error worth reading in a table: a traceback's last line, else the
    first line, at most 160 characters."""
    if err is None or (isinstance(err, float) and pd.isna(err)):
        return ""
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return line if len(line) <= 160 else line[:159] + "…"


def pval(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def seconds(s: float) -> str:
    if not np.isfinite(s):
        return "—"
    return f"{s:,.0f}" if s >= 100 else f"{s:.1f}"


def value_text(v: object) -> str:
    if isinstance(v, (float, np.floating)):
        return NA if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _decimals(done: pd.DataFrame, cells: pd.DataFrame, metric: str) -> int:
    stds = cells["std"].to_numpy(float) if len(cells) else np.array([])
    stds = stds[np.isfinite(stds) & (stds > 0)]
    if stds.size:
        scale = float(np.median(stds))
    elif len(done) > 1 and done[metric].std() > 0:
        scale = float(done[metric].std())
    else:
        scale = abs(float(done[metric].mean())) if len(done) else 1.0
    if not np.isfinite(scale) or scale == 0:
        return 3
    return int(np.clip(math.ceil(-math.log10(scale)) + 1, 1, 6))


def cell_values(trials: pd.DataFrame, dims: list[Dim]) -> pd.DataFrame:
    """Each cell's value per dimension (index cell, columns dim names)."""
    cols = {d.column: d.name for d in dims}
    return trials.groupby("cell", sort=False)[list(cols)].first().rename(columns=cols)


def analyze(prep: Prepared) -> Analysis:
    """Rank the cells, name them, and pick the reference cell."""
    meta, dims = prep.meta, prep.dims
    values = cell_values(prep.trials, dims)
    ranked = stats.cell_table(prep.done, meta.metric, meta.mode)
    cells = ranked.set_index("cell").join(values)
    order = list(cells.index) + [c for c in values.index if c not in cells.index]
    width = len(str(len(order)))
    names = {c: f"C{i:0{width}d}" for i, c in enumerate(order, 1)}
    varying = [d for d in dims if values[d.name].nunique(dropna=True) > 1] or dims[:1]
    labels = {}
    for c in order:
        parts = [
            f"{d.name}={value_text(values.at[c, d.name])}"
            for d in varying
            if value_text(values.at[c, d.name]) != NA
        ]
        labels[c] = f"{names[c]} " + ", ".join(parts)
    cells.insert(0, "cell_id", [names[c] for c in cells.index])
    cells.insert(1, "label", [labels[c] for c in cells.index])

    reference, why = None, "no finished trials"
    if len(cells):
        reference, why = stats.find_baseline(cells, dims, meta.baseline)
        if reference is None:
            reference = cells.index[0]
            why = (
                f"{why}, so the best cell is the reference. It was chosen after seeing the data, "
                "which favours it a little: treat 'worse' flags with some caution"
            )
    model = stats.CellModel(prep.done, meta.metric) if len(prep.done) else None
    return Analysis(
        prep, cells, names, labels, reference, why, model, _decimals(prep.done, cells, meta.metric)
    )
