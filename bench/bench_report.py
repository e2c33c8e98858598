"""Time ``write_report`` on a 500-trial sweep: 5 necks x 5 heads x 20 seeds, 10-epoch curves.

Run: ``python bench/bench_report.py``. Writes ``bench/results/report.json``. The first report
in a process pays the imports (SciPy, statsmodels, matplotlib, Optuna), so both the cold and
the warm time are recorded.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "report"))  # the synthetic sweep is a test fixture

from synthetic import synthetic_sweep  # noqa: E402

from ablate.report import write_report  # noqa: E402

NECKS = {
    "GlobalAvgPool": 0.0,
    "GeneralizedMeanPooling": 0.02,
    "MaxPool": -0.01,
    "Attention": 0.01,
    "Flatten": -0.03,
}
HEADS = {
    "LinearHead": 0.0,
    "BNNeckHead": 0.015,
    "MLPHead": 0.005,
    "CosineHead": 0.0,
    "ArcHead": -0.02,
}


def main() -> dict:
    trials, curves, meta = synthetic_sweep(
        {"neck": NECKS, "head": HEADS}, n_seeds=20, epochs=10, fail=0.02, seed=0
    )
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            t0 = time.perf_counter()
            write_report(trials, curves, meta, Path(tmp) / f"r{i}")
            runs.append(time.perf_counter() - t0)
    result = {
        "trials": len(trials),
        "cells": int(trials["cell"].nunique()),
        "curve_rows": len(curves),
        "seconds_cold": round(runs[0], 2),
        "seconds_warm": round(runs[1], 2),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    out = ROOT / "bench" / "results" / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
