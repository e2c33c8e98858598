"""Parameter importance with Optuna's evaluators, on an in-memory study built from the trials.

Two views, both normalised to sum to 1 over the dimensions they assess:

- **PED-ANOVA** (``PedAnovaImportanceEvaluator``, Optuna's default) on every finished trial:
  how much each dimension matters for landing in the best ``q`` quantile of trials. It handles
  conditional dimensions (``neck.p`` only exists for some necks) and is fast.
- **fANOVA** (``FanovaImportanceEvaluator``) on the cell means: the share of the variance
  between cells each dimension explains. Fitting it to cell means rather than single seeds keeps
  the forest from explaining seed noise with continuous dimensions. It skips dimensions that do
  not apply to every cell.

Importances are relative: a dimension with no real effect still gets a share. Whether an effect
is larger than seed noise is what the marginal-effect intervals answer.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ablate.report.frame import NA, Dim

MIN_TRIALS = 8
MIN_CELLS = 4


def _distributions(frame: pd.DataFrame, dims: list[Dim]) -> dict[str, Any]:
    """One Optuna distribution per dimension that takes at least two values in ``frame``."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for d in dims:
        v = frame[d.name]
        if d.categorical:
            choices = sorted(set(v.astype(str)) - {NA})
            if len(choices) >= 2:
                out[d.name] = CategoricalDistribution(choices)
            continue
        v = pd.to_numeric(v, errors="coerce").dropna()
        if v.nunique() < 2:
            continue
        lo, hi = float(v.min()), float(v.max())
        log = lo > 0 and hi / lo >= 100  # e.g. a learning rate searched over decades
        if np.allclose(v, v.round()):
            out[d.name] = IntDistribution(int(lo), int(hi), log=log)
        else:
            out[d.name] = FloatDistribution(lo, hi, log=log)
    return out


def _study(frame: pd.DataFrame, dists: dict[str, Any], values: pd.Series, mode: str) -> Any:
    """A minimising study: the stored value is the metric, negated when larger is better."""
    import optuna

    sign = -1.0 if mode == "max" else 1.0
    trials = []
    for i, row in frame.iterrows():
        params: dict[str, Any] = {}
        used: dict[str, Any] = {}
        for name, dist in dists.items():
            v = row[name]
            if v is None or (isinstance(v, float) and np.isnan(v)) or v == NA:
                continue
            if hasattr(dist, "choices"):
                params[name] = str(v)
            elif isinstance(dist, optuna.distributions.IntDistribution):
                params[name] = round(float(v))
            else:
                params[name] = float(v)
            used[name] = dist
        value = sign * float(values[i])
        trials.append(optuna.trial.create_trial(params=params, distributions=used, value=value))
    study = optuna.create_study(direction="minimize")
    study.add_trials(trials)
    return study


def conditional(frame: pd.DataFrame, names: list[str]) -> list[str]:
    """The dimensions that do not apply to every row (``neck.p`` under some necks only)."""
    out = []
    for name in names:
        v = frame[name]
        if (v.isna() | (v.astype(str) == NA)).any():
            out.append(name)
    return out


def _coverage(
    evaluator: str, frame: pd.DataFrame, dists: dict[str, Any], imp: dict[str, float], rows: str
) -> list[str]:
    """What an evaluator did with the conditional dimensions: assessed them (a
    conditional-aware evaluator, e.g. Optuna 5's Conditional PED-ANOVA) or left them out."""
    cond = conditional(frame, list(dists))
    if not cond:
        return []
    left = [d for d in dists if d not in imp]
    kept = [d for d in cond if d in imp]
    notes = []
    if kept:
        notes.append(
            f"{evaluator} assessed the conditional dimensions {', '.join(kept)} over the {rows} "
            "where they apply (a conditional-aware evaluator)."
        )
    if left:
        notes.append(
            f"{evaluator} left out {', '.join(left)}: they apply to only some {rows} "
            "(conditional), and this evaluator assesses only dimensions every one of them has."
        )
    return notes


def param_importance(
    done: pd.DataFrame, cells: pd.DataFrame, dims: list[Dim], metric: str, mode: str
) -> tuple[pd.DataFrame | None, list[str]]:
    """Importance per dimension, and notes saying what was skipped and why.

    Args:
        done: Counted trials with ``param.<dim>`` columns and the metric.
        cells: Per cell (index) the dimension values by name and ``mean``.

    Returns:
        (DataFrame with ``dimension``, ``ped_anova``, ``fanova``; or None), notes.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    notes: list[str] = []
    if len(done) < MIN_TRIALS:
        return None, [f"{len(done)} finished trials; importance needs at least {MIN_TRIALS}."]
    frame = done.rename(columns={d.column: d.name for d in dims})
    dists = _distributions(frame, dims)
    fixed = [d.name for d in dims if d.name not in dists]
    if fixed:
        notes.append(f"Constant in the finished trials, so not assessed: {', '.join(fixed)}.")
    if not dists:
        return None, [*notes, "No dimension varies, so there is nothing to rank."]
    if len(dists) == 1:
        notes.append("One dimension only: its importance is 1 by definition.")

    result = pd.DataFrame({"dimension": list(dists)}).set_index("dimension")
    q = float(min(0.5, max(0.1, 10 / len(frame))))  # >= 10 trials in the top quantile
    try:
        study = _study(frame, dists, frame[metric], mode)
        ev = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=q)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            imp = optuna.importance.get_param_importances(study, evaluator=ev)
        result["ped_anova"] = pd.Series(imp, dtype=float)
        notes.append(f"PED-ANOVA on {len(frame)} trials, top quantile q = {q:.2f}.")
        notes += _coverage("PED-ANOVA", frame, dists, imp, "trials")
    except Exception as e:  # a degenerate study must not sink the whole report
        notes.append(f"PED-ANOVA failed: {type(e).__name__}: {e}")

    if len(cells) >= MIN_CELLS:
        try:
            cdists = _distributions(cells, dims)
            cstudy = _study(cells, cdists, cells["mean"], mode)
            fanova = optuna.importance.FanovaImportanceEvaluator(n_trees=32, seed=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp = optuna.importance.get_param_importances(cstudy, evaluator=fanova)
            result["fanova"] = pd.Series(imp, dtype=float)
            notes.append(f"fANOVA on the means of {len(cells)} cells.")
            notes += _coverage("fANOVA", cells, cdists, imp, "cells")
        except Exception as e:
            notes.append(f"fANOVA failed: {type(e).__name__}: {e}")
    else:
        notes.append(f"{len(cells)} cells; fANOVA on cell means needs at least {MIN_CELLS}.")
    for col in ("ped_anova", "fanova"):
        if col not in result:
            result[col] = np.nan
    if result[["ped_anova", "fanova"]].isna().all().all():
        return None, notes
    result = result.sort_values(["ped_anova", "fanova"], ascending=False, na_position="last")
    return result.reset_index(), notes
