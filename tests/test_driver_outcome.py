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
from ablate.run.context import TrialContext
from ablate.run.driver import _outcome, trial_configs


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


# --- seed-group ASHA, waiting: what the driver hands Tune ---------------------------------------


def _asha_plan(**asha: Any) -> Any:
    tune = {"scheduler": "asha", "asha": {"grace_period": 1, "reduction_factor": 2, **asha}}
    return make_plan(sweep(NECK_HEAD, tune=tune, train={"epochs": 4}))


def test_an_incremental_runs_ended_trials_are_judged_with_the_rest() -> None:
    import dataclasses

    from ablate.run.driver import _scheduler
    from ablate.search.schedulers.seed_groups import CONTINUE, STOP, group_key

    plan = _asha_plan()
    # an earlier run ended every seed 0: one cell trained to the end, one stopped at epoch 1
    first, second = plan.trials[0], plan.trials[3]
    assert first.seed == second.seed == 0 and first.cell != second.cell
    ended = [(first, 4), (second, 1)]
    keep = [t for t in plan.trials if t not in (first, second)]
    scheduler = _scheduler(dataclasses.replace(plan, trials=keep, ended=ended), fits=2)
    rungs = scheduler._rungs
    assert rungs.sizes[group_key(tune_params(first.point, 0))] == 3  # its seeds 1, 2 and 0
    assert rungs.action(group_key(tune_params(first.point, 1)), 4) == CONTINUE
    assert rungs.action(group_key(tune_params(second.point, 1)), 1) == STOP
    # Ray's per-trial ASHA keeps no seed groups: the ended trials are only skipped
    trial_asha = _asha_plan(promote="trial")
    ray_asha = _scheduler(dataclasses.replace(trial_asha, trials=keep, ended=ended), fits=2)
    assert type(ray_asha).__name__ == "AsyncHyperBandScheduler"


def test_a_waiting_scheduler_raises_tunes_cap_by_the_trials_it_paused() -> None:
    from ablate.run.driver import _scheduler

    plan = _asha_plan()
    scheduler = _scheduler(plan, fits=1)
    trials = [
        SimpleNamespace(status=status, is_saving=False, config={}, last_result={})
        for status in ("PAUSED", "PAUSED", "RUNNING", "PENDING")
    ]
    alg = SimpleNamespace(max_concurrent=1)
    controller = SimpleNamespace(search_alg=alg, get_trials=lambda: trials)
    # one running already: nothing more starts, but the generator may make one past the
    # two paused trials (Tune's own cap counts them)
    assert scheduler.choose_trial_to_run(controller) is None
    assert alg.max_concurrent == 3
    trials[2].status = "TERMINATED"
    assert scheduler.choose_trial_to_run(controller) is trials[3]  # new trials first


# --- which trials may reuse their Tune process --------------------------------------------------

ASHA = {"scheduler": "asha", "asha": {"grace_period": 1, "reduction_factor": 2}}


@pytest.mark.parametrize(
    ("tune", "scaling", "reused"),
    [
        (None, None, True),  # inline, FIFO
        (ASHA, None, True),  # inline: Tune's stop reaches the thread waiting in tune.report
        (None, {"num_workers": 1, "ray_train": True}, True),  # Ray Train, FIFO: fit() returns
        (ASHA, {"num_workers": 1, "ray_train": True}, False),  # a stopped fit() trains on
        (ASHA, {"num_workers": 2}, False),
        ({"trial_timeout": 60}, None, False),  # a timed-out thread may hang
        ({"trial_timeout": 60}, {"num_workers": 1, "ray_train": True}, False),
    ],
)
def test_tune_reuses_a_trial_process_only_where_the_trial_has_ended(
    tune: Any, scaling: Any, reused: bool
) -> None:
    from ablate.run.driver import reuse_actors

    plan = make_plan(sweep(NECK_HEAD, tune=tune, scaling=scaling, train={"epochs": 4}))
    assert reuse_actors(plan) is reused
