"""A synthetic factorial sweep with known cell means and Gaussian seed noise.

For the report's tests, its benchmark and the README screenshot: the true effect of every
choice is known, so the report's intervals and verdicts can be checked against the truth.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ablate.report.frame import SweepMeta


def cell_hash(params: Mapping[str, Any]) -> str:
    blob = json.dumps({k: v for k, v in params.items() if v is not None}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def true_means(effects: Mapping[str, Mapping[Any, float]], base: float) -> dict[tuple, float]:
    """Additive truth: ``base`` plus each choice's effect, per combination of choices."""
    names = list(effects)
    return {
        combo: base + sum(effects[n][v] for n, v in zip(names, combo))
        for combo in itertools.product(*(list(effects[n]) for n in names))
    }


def synthetic_sweep(
    effects: Mapping[str, Mapping[Any, float]],
    *,
    n_seeds: int = 5,
    noise: float = 0.01,
    base: float = 0.7,
    epochs: int = 10,
    fail: float = 0.0,
    seed: int = 0,
    conditional: Mapping[str, tuple[str, Any, float]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, SweepMeta]:
    """Every combination of ``effects``' choices times ``n_seeds`` seeds.

    Args:
        effects: Dimension -> choice -> additive effect on ``val/top1``. String choices make
            categorical dimensions, numbers numeric ones.
        noise: Std of the Gaussian seed noise on the final metric.
        fail: Probability a trial fails (its metric NaN, status FAILED, a traceback as error).
        conditional: Name -> (parent dim, parent choice, value): a numeric dimension that
            only applies under that choice, e.g. ``{"neck.p": ("neck", "GeM", 3.0)}``.
        epochs: Curve length; ``0`` gives no curves.

    Returns:
        (trials, curves, meta), the first dimension's first choice as the baseline.
    """
    rng = np.random.default_rng(seed)
    names = list(effects)
    conditional = dict(conditional or {})
    truth = true_means(effects, base)
    rows, curves = [], []
    k = 0
    for combo, mu in truth.items():
        params: dict[str, Any] = dict(zip(names, combo))
        for cname, (parent, choice, value) in conditional.items():
            params[cname] = value if params[parent] == choice else None
        cell = cell_hash(params)
        for s in range(n_seeds):
            k += 1
            failed = rng.random() < fail
            y = float(mu + noise * rng.standard_normal())
            row = {
                "trial_id": f"t{k:05d}",
                "cell": cell,
                "seed": s,
                "status": "FAILED" if failed else "FINISHED",
                "error": (
                    'Traceback (most recent call last):\n  File "loop.py", line 1\n'
                    "torch.OutOfMemoryError: CUDA out of memory"
                    if failed
                    else None
                ),
                "duration_s": float(rng.uniform(50, 70)),
                "val/top1": np.nan if failed else y,
                "val/loss": np.nan if failed else float(2.0 - 2 * y + 0.01 * rng.standard_normal()),
            }
            row.update({f"param.{n}": (np.nan if v is None else v) for n, v in params.items()})
            rows.append(row)
            reached = rng.integers(1, epochs + 1) if failed else epochs
            for e in range(1, int(reached) + 1):
                frac = (1 - np.exp(-e / 3)) / (1 - np.exp(-epochs / 3))
                v = y * frac + 0.003 * rng.standard_normal()
                curves.append((row["trial_id"], e, "val/top1", v))
    trials = pd.DataFrame(rows)
    curve_df = pd.DataFrame(curves, columns=["trial_id", "step", "metric", "value"])
    dims = [{"name": n, "categorical": isinstance(next(iter(effects[n])), str)} for n in names]
    dims += [{"name": c, "categorical": False} for c in conditional]
    meta = SweepMeta(
        name="synthetic",
        metric="val/top1",
        mode="max",
        strategy="factorial",
        baseline={n: next(iter(effects[n])) for n in names},
        dimensions=dims,
        runs=1,
    )
    return trials, curve_df, meta
