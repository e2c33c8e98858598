"""Matplotlib figures, each returned as PNG bytes. matplotlib is imported lazily, Agg backend.

Every figure is drawn at 100 dpi and a width of at most 7.5 in, so it reads at its natural size
in the HTML report without scaling.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

MAX_ROWS = 30  # rows in a forest plot
MAX_LINES = 10  # coloured lines in the learning-curve plot
FLAG_COLOURS = {
    "better": "#1a7f37",
    "worse": "#cf222e",
    "within seed noise": "#57606a",
    "not enough seeds": "#b0b7bf",
    "reference": "#0969da",
    "equivalent": "#8250df",
    "undecided": "#57606a",
}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "figure.dpi": 100,
        }
    )
    return plt


def _png(fig: Any) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _clip(text: str, n: int = 72) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def forest(
    labels: list[str],
    mean: Any,
    low: Any,
    high: Any,
    xlabel: str,
    colours: list[str] | None = None,
    zero: float | None = None,
) -> bytes:
    """Horizontal point-and-interval plot, first row on top (at most ``MAX_ROWS`` rows)."""
    plt = _plt()
    k = min(len(labels), MAX_ROWS)
    mean, low, high = (np.asarray(a, dtype=float)[:k] for a in (mean, low, high))
    y = np.arange(k)[::-1]
    fig, ax = plt.subplots(figsize=(7.0, 0.6 + 0.28 * k))
    colours = (colours or ["#0969da"] * k)[:k]
    err = np.vstack([mean - low, high - mean])
    err = np.where(np.isfinite(err), err, 0.0)
    for yi, m, e0, e1, c in zip(y, mean, err[0], err[1], colours):
        ax.errorbar(m, yi, xerr=[[e0], [e1]], fmt="o", color=c, ms=4, capsize=3, lw=1.2)
    if zero is not None:
        ax.axvline(zero, color="#888", lw=0.8, ls="--")
    ax.set_yticks(y, [_clip(s) for s in labels[:k]])
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    ax.set_ylim(-0.7, k - 0.3)
    return _png(fig)


def numeric_scatter(x: Any, y: Any, dim: str, metric: str) -> bytes:
    """Trial values against a numeric dimension, with a LOWESS trend (statsmodels)."""
    from statsmodels.nonparametric.smoothers_lowess import lowess

    plt = _plt()
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    ax.scatter(x, y, s=12, alpha=0.5, color="#0969da", lw=0, label="trials")
    log = len(x) and x.min() > 0 and x.max() / x.min() >= 30
    if log:
        ax.set_xscale("log")
    if len(np.unique(x)) >= 4:
        xs = np.log10(x) if log else x
        fit = lowess(y, xs, frac=0.6, return_sorted=True)
        ax.plot(
            10 ** fit[:, 0] if log else fit[:, 0],
            fit[:, 1],
            color="#cf222e",
            lw=2,
            label="LOWESS trend",
        )
    ax.set_xlabel(dim)
    ax.set_ylabel(metric)
    ax.legend(frameon=False, loc="best", markerscale=1.5)
    return _png(fig)


def heatmap(pivot: pd.DataFrame, metric: str, mode: str) -> bytes:
    """Annotated heatmap of a mean-per-pair table; the better end of the scale is yellow."""
    plt = _plt()
    z = pivot.to_numpy(float)
    r, c = z.shape
    fig, ax = plt.subplots(figsize=(min(7.5, 1.6 + 1.1 * c), 0.9 + 0.5 * r))
    cmap = plt.get_cmap("viridis" if mode == "max" else "viridis_r")
    im = ax.imshow(np.ma.masked_invalid(z), cmap=cmap, aspect="auto")
    finite = z[np.isfinite(z)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(r):
        for j in range(c):
            if np.isfinite(z[i, j]):
                light = (z[i, j] < mid) == (mode == "max")
                ax.text(j, i, f"{z[i, j]:.4g}", ha="center", va="center", fontsize=8,
                        color="white" if light else "black")  # fmt: skip
    ax.set_xticks(range(c), [_clip(str(s), 18) for s in pivot.columns], rotation=30, ha="right")
    ax.set_yticks(range(r), [_clip(str(s), 28) for s in pivot.index])
    ax.set_xlabel(str(pivot.columns.name))
    ax.set_ylabel(str(pivot.index.name))
    ax.grid(False)
    fig.colorbar(im, ax=ax, label=metric, fraction=0.05, pad=0.02)
    return _png(fig)


def val_test(val: pd.Series, test: pd.Series, val_name: str, test_name: str) -> bytes:
    """Each cell's val mean against its test mean, with the diagonal test = val."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.0))
    x, y = val.to_numpy(float), test.to_numpy(float)
    ax.scatter(x, y, s=18, color="#0969da")
    both = np.concatenate([x, y])
    lo, hi = float(np.nanmin(both)), float(np.nanmax(both))
    ax.plot([lo, hi], [lo, hi], color="#57606a", linewidth=1, linestyle="--")
    ax.set_xlabel(f"{val_name} (selects)")
    ax.set_ylabel(f"{test_name} (reports)")
    return _png(fig)


def confusion(matrix: np.ndarray) -> bytes:
    """A (C, C) count matrix, true class by row, each row shaded by its share."""
    plt = _plt()
    c = matrix.shape[0]
    share = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1, None)
    fig, ax = plt.subplots(figsize=(min(7.5, 1.5 + 0.45 * c), min(7.0, 1.2 + 0.45 * c)))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    if c <= 20:
        for i in range(c):
            for j in range(c):
                if matrix[i, j]:
                    ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="share of the row", fraction=0.05, pad=0.02)
    return _png(fig)


def curves(
    means: pd.DataFrame,
    order: list[str],
    labels: dict[str, str],
    metric: str,
    reference: str | None,
) -> bytes:
    """Mean-over-seeds curve per cell: the first ``MAX_LINES`` of ``order`` coloured and in the
    legend (the reference dashed black), the rest thin and grey.

    Args:
        means: Columns ``cell``, ``step``, ``value``.
        order: Cells, most interesting first (the reference, then by rank).
    """
    plt = _plt()
    shown = [c for c in order if c in set(means["cell"])][:MAX_LINES]
    rest = [c for c in pd.unique(means["cell"]) if c not in set(shown)]
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    by = {c: g.sort_values("step") for c, g in means.groupby("cell", sort=False)}
    for i, c in enumerate(rest):
        g = by[c]
        ax.plot(g["step"], g["value"], color="#b0b7bf", lw=0.7, alpha=0.6,
                label=f"{len(rest)} other cells" if i == 0 else None)  # fmt: skip
    cmap = plt.get_cmap("tab10")
    colours = iter(cmap(i) for i in range(10))
    for c in shown:
        g = by[c]
        if c == reference:
            ax.plot(g["step"], g["value"], color="black", lw=1.6, ls="--",
                    label=_clip(labels[c], 66) + " (reference)", zorder=5)  # fmt: skip
        else:
            ax.plot(g["step"], g["value"], color=next(colours), lw=1.6, label=_clip(labels[c], 66))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{metric} (mean over seeds)")
    handles, names = ax.get_legend_handles_labels()
    if rest:  # the grey bundle last
        handles, names = handles[1:] + handles[:1], names[1:] + names[:1]
    ncol = 2 if len(shown) > 4 and max(map(len, names)) <= 48 else 1
    ax.legend(handles, names, frameon=False, fontsize=8, loc="upper left",
              bbox_to_anchor=(0.0, -0.18), ncol=ncol)  # fmt: skip
    return _png(fig)


def importance_bars(table: pd.DataFrame) -> bytes:
    """Grouped horizontal bars, one group per dimension."""
    plt = _plt()
    k = len(table)
    fig, ax = plt.subplots(figsize=(6.0, 0.8 + 0.45 * k))
    y = np.arange(k)[::-1]
    cols = [(c, lab) for c, lab in (("ped_anova", "PED-ANOVA"), ("fanova", "fANOVA (cell means)"))
            if table[c].notna().any()]  # fmt: skip
    h = 0.8 / max(len(cols), 1)
    for j, (c, lab) in enumerate(cols):
        ax.barh(y + (len(cols) - 1 - 2 * j) * h / 2, table[c].fillna(0), height=h, label=lab)
    ax.set_yticks(y, [_clip(str(s), 30) for s in table["dimension"]])
    ax.set_xlabel("importance (sums to 1)")
    ax.grid(axis="y", visible=False)
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def waterfall(
    labels: list[str], start: float, deltas: Any, low: Any, high: Any, metric: str
) -> bytes:
    """The ablation path as a waterfall: the baseline's mean, then each step's change as a
    bar from the running total, with the change's 95% CI as an error bar."""
    plt = _plt()
    deltas, low, high = (np.asarray(a, dtype=float) for a in (deltas, low, high))
    k = len(deltas)
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    ax.bar(0, start, color="#0969da", width=0.6)
    level = start
    for i, (d, lo, hi) in enumerate(zip(deltas, low, high), 1):
        colour = FLAG_COLOURS["better"] if d >= 0 else FLAG_COLOURS["worse"]
        ax.bar(i, d, bottom=level, color=colour, width=0.6)
        if np.isfinite(lo) and np.isfinite(hi):
            ax.errorbar(i, level + d, yerr=[[d - lo], [hi - d]], color="#24292f", capsize=3, lw=1)
        level += d
    ax.bar(k + 1, level, color="#0969da", width=0.6, alpha=0.6)
    ax.set_xticks(range(k + 2), [_clip(s, 18) for s in ["baseline", *labels, "target"]],
                  rotation=20, ha="right")  # fmt: skip
    lows = [start, level, *(start + np.cumsum(deltas))]
    pad = (max(lows) - min(lows)) or abs(start) * 0.05 or 1.0
    ax.set_ylim(min(lows) - pad, max(lows) + pad)
    ax.set_ylabel(metric)
    return _png(fig)
