"""The per-component ablation report: tables of trials in, report files out.

Pure: no MLflow, no Ray. The tracking side turns its runs into the tables described in
:mod:`ablate.report.frame` (the input contract) and calls :func:`write_report`::

    from ablate.report import SweepMeta, write_report

    meta = SweepMeta(name="neck_x_head", metric="val/top1", mode="max", strategy="factorial",
                     baseline={"neck": "GlobalAvgPool", "head": "LinearHead"},
                     dimensions=[{"name": "neck", "categorical": True},
                                 {"name": "neck.p", "categorical": False},
                                 {"name": "head", "categorical": True}])
    paths = write_report(trials, curves, meta, "reports/neck_x_head")

The report answers: what does each component choice do to the metric, and is the difference
more than seed noise? Sections (a registry, :mod:`ablate.report.sections`): how to read it;
leaderboard of cells; marginal effect of each dimension; interactions; difference from the
reference cell; parameter importance; learning curves; failed trials. Their numbers are
computed from their order. matplotlib, SciPy, statsmodels and Optuna are imported on first
use.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ablate.layout import RESULT_ARTIFACT_PREFIX
from ablate.report.frame import Dim, SweepMeta, prepare

__all__ = [
    "RANKING_MODULES",
    "REPORT_MODULES",
    "Dim",
    "SweepMeta",
    "warm_imports",
    "write_report",
]

#: What every report imports, in the order it needs them.
REPORT_MODULES = (
    "matplotlib.backends.backend_agg",
    "optuna",
    "scipy.stats",
    "statsmodels.regression.linear_model",
    "statsmodels.stats.multitest",
    "statsmodels.stats.power",
    "statsmodels.nonparametric.smoothers_lowess",
    "ablate.report.analysis",
    "ablate.report.figures",
    "ablate.report.render",
    "ablate.report.sections",
)
#: What a report that ranks dimensions imports besides: Optuna's importance evaluators and
#: statsmodels' formulas (the two-way interaction test).
RANKING_MODULES = ("optuna.importance", "statsmodels.formula.api", "statsmodels.stats.anova")


def warm_imports(importance: bool = True) -> None:
    """Import what writing a report needs (matplotlib and its Agg backend, SciPy,
    statsmodels, Optuna, the report's sections), so a driver can do it while its trials
    train rather than after the last one (about a second and a half of the wait before the
    report, measured in BENCHMARKS.md). ``importance``: also Optuna's importance
    evaluators, with scikit-learn's forests (1.6 s), and statsmodels' formulas (the
    interaction test), for a sweep whose dimensions the report will rank. Not
    ``statsmodels.api``: it imports all of statsmodels (0.2 s of CPU more here)."""
    import importlib

    for name in REPORT_MODULES + (RANKING_MODULES if importance else ()):
        importlib.import_module(name)
    from ablate.report import figures

    figures._plt()


def write_report(
    trials: pd.DataFrame,
    curves: pd.DataFrame | None,
    meta: SweepMeta | Mapping[str, Any],
    out_dir: str | Path,
) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` (self-contained), ``results.csv`` and ``cells.csv``.

    Args:
        trials: One row per trial (see :mod:`ablate.report.frame`).
        curves: Long-form per-epoch metrics (``trial_id``, ``step``, ``metric``, ``value``),
            or None.
        meta: A :class:`SweepMeta` or a dict of its fields.
        out_dir: Created if missing; existing report files are overwritten.

    Returns:
        ``{"md", "html", "csv", "cells_csv", "figures"}`` -> path.

    Raises:
        AblateError: A required column or meta field is missing or malformed.
    """
    from ablate.report import render
    from ablate.report.analysis import analyze, error_line
    from ablate.report.sections import Refs, ordered_sections

    prep = prepare(trials, curves, meta)
    a = analyze(prep)
    chosen = ordered_sections()
    refs = Refs({name: n for n, (name, _) in enumerate(chosen, start=1)})
    sections = [
        render.Section(f"{n}. {section.title}", section.build(a, refs))
        for n, (_, section) in enumerate(chosen, start=1)
    ]

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = prep.meta
    title = f"Ablation report: {m.name}"
    subtitle = f"`{m.metric}` ({'higher' if m.mode == 'max' else 'lower'} is better) · generated {time.strftime('%Y-%m-%d %H:%M')}"
    paths = {
        "md": out / "report.md",
        "html": out / "report.html",
        "csv": out / "results.csv",
        "cells_csv": out / "cells.csv",
        "figures": out / "figures",
    }
    render.write_figures(sections, paths["figures"])
    paths["md"].write_text(
        render.to_markdown(title, subtitle, sections, "figures"), encoding="utf-8"
    )
    paths["html"].write_text(render.to_html(title, subtitle, sections), encoding="utf-8")

    # A metric artifact's JSON (a confusion matrix) is drawn, not listed.
    res = prep.trials.drop(columns=[c for c in prep.trials if c.startswith(RESULT_ARTIFACT_PREFIX)])
    res.insert(0, "cell_id", res["cell"].map(a.names))
    res["error_line"] = res["error"].map(error_line)
    res.to_csv(paths["csv"], index=False)
    cells = a.cells.drop(columns="label").reset_index()
    cells.to_csv(paths["cells_csv"], index=False)
    return paths
