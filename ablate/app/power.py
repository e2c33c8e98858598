"""Power before the run: the seed spread a sweep can expect, and what its seeds can detect.

The seed standard deviation comes, in this order, from the sweep's own earlier runs in the
tracking store, from a pilot sweep there (``tune.pilot``), or from a stated prior
(``tune.seed_sd``); the plan says which. statsmodels does the power arithmetic
(:mod:`ablate.report.verdicts`).
"""

from __future__ import annotations

from ablate.app.options import SweepOptions
from ablate.errors import AblateError
from ablate.layout import FINISHED
from ablate.plan import SweepPlan
from ablate.report import verdicts as V
from ablate.tracking import open_store, sqlite_file, tracking_uri
from ablate.tracking.read import load_sweep


def seed_sd(plan: SweepPlan, opts: SweepOptions) -> tuple[float, str]:
    """The seed spread and where it came from."""
    metric = plan.tune.metric
    for name, what in ((plan.name, "this sweep's earlier runs"), (plan.tune.pilot, "pilot")):
        if not name:
            continue
        sd, df = _stored_sd(opts, name, metric)
        if df > 0:
            label = what if name == plan.name else f"pilot sweep '{name}'"
            return sd, f"{label} in the tracking store ({df} degrees of freedom)"
    if plan.tune.seed_sd is not None:
        return plan.tune.seed_sd, "the stated prior tune.seed_sd"
    return float("nan"), "unknown: no earlier runs, no tune.pilot, no tune.seed_sd"


def _stored_sd(opts: SweepOptions, name: str, metric: str) -> tuple[float, int]:
    uri = tracking_uri(opts.tracking_uri)
    db = sqlite_file(uri)
    if db is not None and not db.exists():
        return float("nan"), 0
    try:
        data = load_sweep(open_store(uri), name)
    except AblateError:
        return float("nan"), 0
    t = data.trials
    if metric not in t:
        return float("nan"), 0
    done = t[(t["status"] == FINISHED) & t[metric].notna()]
    done = done.drop_duplicates(["cell", "seed"], keep="last")
    return V.pooled_sd(done, metric)


def plan_power(plan: SweepPlan, opts: SweepOptions) -> V.Power:
    sd, source = seed_sd(plan, opts)
    seeds = len(plan.space.seeds)
    comparisons = max(len(plan.cells) - 1, 1)
    return V.Power(sd, source, seeds, comparisons, plan.tune.min_effect)


__all__ = ["plan_power", "seed_sd"]
