"""Sweeps that run in rounds: adaptive seeds, and strategies that plan round by round
(``ablation_path``).

After each round the results are read back from the tracking store, and the next round is
planned from them alone: adaptive seeds replay their verdicts look by look
(:func:`ablate.report.verdicts.sequential_verdicts`), the ablation path replays its race.
A killed sweep run again therefore plans the same rounds, and the incremental skip
(:func:`ablate.app.incremental.still_to_run`, on the ``(cell, seed)`` keys) runs only what
is missing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, Literal

import pandas as pd

from ablate.app.incremental import still_to_run
from ablate.app.options import SweepOptions
from ablate.layout import FINISHED
from ablate.plan import SweepPlan, TrialSpec
from ablate.report import verdicts as V
from ablate.search.resolve import cell_id, resolve
from ablate.search.space import Point
from ablate.settings import guess_mode
from ablate.tracking import Store
from ablate.tracking import schema as S
from ablate.tracking.read import load_sweep


def in_rounds(plan: SweepPlan) -> bool:
    return plan.space.adaptive is not None or plan.strategy.rounds


def stored_results(store: Store, name: str, metric: str) -> dict[str, pd.Series]:
    """Cell -> its finished metric values by seed (the latest run of a re-run pair)."""
    t = load_sweep(store, name).trials
    if metric not in t or t.empty:
        return {}
    t = t[(t["status"] == FINISHED) & t[metric].notna()].sort_values("end_time")
    t = t.assign(seed=t["seed"].astype(int)).drop_duplicates(["cell", "seed"], keep="last")
    return {c: g.set_index("seed")[metric].astype(float).sort_index() for c, g in t.groupby("cell")}


def _cell(plan: SweepPlan, point: Point) -> str:
    return cell_id(resolve(plan.base, plan.space, point, 0))


def adaptive_next(plan: SweepPlan, results: dict[str, pd.Series]) -> tuple[list[TrialSpec], str]:
    """The next round of adaptive seeds: more seeds for the undecided cells and the
    reference, or none; and a line saying where the sweep stands."""
    a = plan.space.adaptive
    assert a is not None and plan.baseline is not None
    looks = V.Looks(a.rounds(), a.spending, a.futility)
    points = dict(zip(plan.cells, plan.points))
    ref = _cell(plan, plan.baseline)
    empty = pd.Series(dtype=float)
    by_cell = {c: results.get(c, empty) for c in points}
    table, complete = V.sequential_verdicts(
        by_cell, ref, _mode(plan), plan.tune.min_effect, plan.space.seeds, looks
    )
    counts = table["verdict"].value_counts().to_dict()
    line = f"{complete} of {len(looks.seeds)} looks: " + ", ".join(
        f"{n} {v}" for v, n in counts.items()
    )
    if complete == len(looks.seeds):
        return [], line + " (max seeds reached)"
    open_ = V.still_open(table)
    if complete and not open_:
        futile = int(table["futile"].sum())
        return [], line + (
            f" ({futile} stopped for futility)" if futile else " (every verdict decided)"
        )
    n = looks.seeds[complete]
    cells = [ref] + [c for c in open_ if c != ref] if complete else list(points)
    seeds = plan.space.seeds[:n]
    return [TrialSpec(points[c], s, c) for c in cells for s in seeds], line


def _mode(plan: SweepPlan) -> Literal["max", "min"]:
    return plan.tune.mode or guess_mode(plan.tune.metric)


def _planning(plan: SweepPlan) -> Any:
    """What the strategy planned from, with the plan's ``tune`` (its mode resolved from the
    metric when the file leaves it out)."""
    assert plan.planning is not None
    return dataclasses.replace(plan.planning, tune=dataclasses.replace(plan.tune, mode=_mode(plan)))


def strategy_next(plan: SweepPlan, results: dict[str, pd.Series]) -> tuple[list[TrialSpec], str]:
    need = plan.strategy.next_round(_planning(plan), results)
    trials = [TrialSpec(p, s, _cell(plan, p)) for p, s in need]
    return trials, f"{len(trials)} trials next" if trials else "path complete"


def run_rounds(
    plan: SweepPlan,
    store: Store,
    opts: SweepOptions,
    drive: Callable[[SweepPlan], list[Any]],
    settle: Callable[[], None],
    say: Callable[[str], None] = print,
) -> list[Any]:
    """Run round after round until the plan says it is done; every trial's outcome."""
    nxt = strategy_next if plan.strategy.rounds else adaptive_next
    outcomes: list[Any] = []
    todo, seen = list(plan.trials), None
    ran: set[tuple[str, int]] = set()
    while todo:
        fresh = dataclasses.replace(plan, trials=[t for t in todo if (t.cell, t.seed) not in ran])
        sub, _ = still_to_run(fresh, store, dataclasses.replace(opts, rerun_all=False))
        if opts.rerun_all and not ran:
            sub = fresh  # --rerun-all: the first round runs again, later rounds build on it
        if sub.trials:
            outcomes += drive(sub)
            ran |= {(t.cell, t.seed) for t in sub.trials}
        settle()
        todo, line = nxt(plan, stored_results(store, plan.name, plan.tune.metric))
        say(f"round: {line}")
        key = {(t.cell, t.seed) for t in todo}
        if todo and key == seen:
            say("round: the same trials are still missing (failed?): stopping")
            break
        seen = key
    return outcomes


def path_tags(plan: SweepPlan, store: Store) -> dict[str, str]:
    """The ablation path's steps and its target (where it came from) as JSON tags for the
    parent run (the report draws them); none for other sweeps."""
    if not plan.strategy.rounds or plan.planning is None:
        return {}
    state = plan.strategy.state(  # type: ignore[attr-defined]
        _planning(plan), stored_results(store, plan.name, plan.tune.metric)
    )
    steps = [{"flip": s.flip, "cell": s.cell, "raced": s.raced} for s in state.steps]
    tags = {S.PATH: json.dumps(steps, default=str)}
    if state.target is not None:
        tags[S.TARGET] = json.dumps(state.target.as_dict(), default=str)
    return tags


__all__ = ["adaptive_next", "in_rounds", "path_tags", "run_rounds", "stored_results"]
