"""Importance on a conditional space: each evaluator assesses the conditional dimension or
the notes name it as left out, and why."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.report.frame import Dim
from ablate.report.importance import param_importance


def test_conditional_dimensions_are_assessed_or_named() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for neck, ps in (("avg", [None]), ("gem", [2.0, 3.0, 4.0])):
        for p in ps:
            for head in ("lin", "bn"):
                for seed in range(4):
                    y = 0.7 + (0.02 * (p or 0)) + (0.01 if head == "bn" else 0)
                    rows.append({"cell": f"{neck}{p}{head}", "seed": seed, "param.neck": neck,
                                 "param.neck.p": p, "param.head": head,
                                 "val/top1": y + rng.normal(0, 0.002)})  # fmt: skip
    done = pd.DataFrame(rows)
    dims = [Dim("neck", True), Dim("neck.p", False), Dim("head", True)]
    cells = done.groupby("cell").agg(
        neck=("param.neck", "first"), **{"neck.p": ("param.neck.p", "first")},
        head=("param.head", "first"), mean=("val/top1", "mean"),
    )  # fmt: skip
    table, notes = param_importance(done, cells, dims, "val/top1", "max")
    assert table is not None
    text = " ".join(notes)
    # Optuna 5's PED-ANOVA is conditional-aware; fANOVA assesses only dims every cell has
    ped = table.set_index("dimension")["ped_anova"]
    if np.isfinite(ped.get("neck.p", np.nan)):
        assert "PED-ANOVA assessed the conditional dimensions neck.p" in text
    else:
        assert "PED-ANOVA left out neck.p" in text
    assert "fANOVA left out neck.p: they apply to only some cells (conditional)" in text
