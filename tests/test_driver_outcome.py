"""The driver's reading of Tune's results, without Ray: a trial that died before its first
report has no ``Result.config`` (Tune reads it off the last result), and must still be
named and counted, from its trial's own config."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from test_plan import BASE, NECK_HEAD, sweep

from ablate.layout import FAILED, FINISHED, INCOMPLETE, trial_name, tune_params
from ablate.plan import make_plan
from ablate.run.driver import _outcome, trial_configs
from ablate.run.trial import TrialContext


def _ctx(plan: Any) -> TrialContext:
    return TrialContext(
        sweep=plan.name,
        file=plan.cfg.file,
        base=plan.base,
        space=plan.space,
        imports=[],
        inline=True,
        num_workers=1,
        use_gpu=False,
        worker={},
        placement_strategy="PACK",
        train_max_failures=0,
        storage_path="unused",
        trial_timeout=None,
    )


@pytest.fixture(scope="module")
def planned() -> tuple[Any, TrialContext]:
    plan = make_plan(sweep(NECK_HEAD))
    return plan, _ctx(plan)


def _grid(plan: Any, rows: list[tuple[dict[str, Any], Exception | None]]) -> Any:
    """A ResultGrid's shape: results by index, and its analysis's trials (same order)."""
    configs = [{"trial": tune_params(t.point, t.seed)} for t in plan.trials[: len(rows)]]
    results = [
        SimpleNamespace(config=dict(metrics.get("config") or {}) or None, metrics=metrics, error=e)
        for metrics, e in rows
    ]
    grid = SimpleNamespace(
        _experiment_analysis=SimpleNamespace(trials=[SimpleNamespace(config=c) for c in configs])
    )
    return grid, results


def test_a_trial_that_died_before_its_first_report_is_named_and_failed(planned: Any) -> None:
    plan, ctx = planned
    epochs = BASE["train"]["epochs"]
    done = {"epoch": epochs, "val/top1": 0.5, "time_total_s": 3.0}
    cases = [
        (
            {**done, "config": {"trial": tune_params(plan.trials[0].point, plan.trials[0].seed)}},
            None,
        ),
        ({}, RuntimeError("worker died\nCUDA gone")),  # no result at all: config None
        ({}, None),  # nothing reported, no error either: cut short
    ]
    grid, results = _grid(plan, cases)
    configs = trial_configs(grid)
    outcomes = [_outcome(plan, ctx, r, c) for r, c in zip(results, configs, strict=True)]
    want = [trial_name(t.cell, t.seed) for t in plan.trials[:3]]
    assert [o.name for o in outcomes] == want
    assert [o.status for o in outcomes] == [FINISHED, FAILED, INCOMPLETE]
    assert outcomes[1].error and "CUDA gone" in outcomes[1].error
    assert outcomes[1].seed == plan.trials[1].seed
    assert outcomes[1].point == plan.trials[1].point
    assert outcomes[0].duration_s == 3.0
