"""Run a sweep on Ray Tune: size concurrency to the cluster, run, resume.

Each Tune trial is :func:`ablate.run.trial.run_trial`. A planning strategy (factorial,
one_at_a_time, random) hands Tune the exact trial list, so trial names are deterministic
and an interrupted sweep resumes with ``Tuner.restore``; a proposing one (Optuna) gives Tune
its searcher (:meth:`ablate.search.strategies.Strategy.searcher`). The scheduler comes from
:mod:`ablate.search.schedulers`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ablate import heap, timeline
from ablate.errors import exception_line
from ablate.layout import (
    FAILED,
    FINISHED,
    INCOMPLETE,
    STOPPED,
    active_marker,
    experiment_root,
    runs_dir,
    trial_name,
    tune_params,
    unique_trial_name,
)
from ablate.plan import SweepPlan, check_fits
from ablate.run import reaper
from ablate.run.context import TrialContext, trial_config
from ablate.run.loggers import tune_loggers
from ablate.run.progress import ProgressSink, SweepProgress, progress_callback
from ablate.run.session import cluster_nodes, connect, driver_reaps, plain_trial_actors
from ablate.run.trial import run_trial
from ablate.search.space import short_point


@dataclass
class TrialOutcome:
    """What one trial ended with, as the results table and the tracker see it."""

    name: str
    cell: str
    seed: int
    point: dict[str, Any]
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0


@dataclass
class SweepOutcome:
    name: str
    experiment_path: str
    trials: list[TrialOutcome]
    wall_s: float
    concurrency: int

    @property
    def failed(self) -> list[TrialOutcome]:
        return [t for t in self.trials if t.status == FAILED]


@dataclass(frozen=True)
class TrialNamer:
    """Deterministic trial names ``<cell>-s<seed>``; a proposing strategy may repeat a
    point, so its names also carry Tune's trial id.

    A module-level class, not a closure: Tune pickles it into the experiment's state, and a
    class pickles by reference.
    """

    ctx: TrialContext
    unique: bool

    def __call__(self, trial: Any) -> str:
        _, _, seed, cell = trial_config(self.ctx, trial.config)
        if self.unique:
            return unique_trial_name(cell, seed, trial.trial_id)
        return trial_name(cell, seed)


def seed_groups(plan: SweepPlan) -> dict[str, int]:
    """Seeds per cell in this run, by the key a seed-aware scheduler groups trials on."""
    from collections import Counter

    from ablate.search.schedulers.seed_groups import group_key

    trials = [*plan.trials, *(t for t, _ in plan.ended)]
    return dict(Counter(group_key(tune_params(t.point, t.seed)) for t in trials))


def reuse_actors(plan: SweepPlan) -> bool:
    """Whether Tune may hand a trial's process to the next trial.

    Trials share nothing there but imports: for an inline trial reuse is most of the
    per-trial fixed cost, and a Ray Train trial's process only drives its TorchTrainer
    (BENCHMARKS.md). Never for a trial with a timeout: it may leave a hung thread behind.
    Not for Ray Train trials under a scheduler that stops or pauses them: Tune's stop
    reaches an inline trial's thread (it waits in ``tune.report``) but not a ``fit()``,
    which trains on; Tune gives the thread 2 s to end before it fails the next trial
    (``FunctionTrainable.reset_config``), and a paused trial's old ``fit()`` could write
    its checkpoint past the rung it paused at.
    """
    if plan.tune.trial_timeout is not None:
        return False
    return plan.resources.inline or not plan.scheduler.stops_early


def _scheduler(plan: SweepPlan, fits: int) -> Any:
    s = plan.scheduler
    if not s.seed_groups:
        return s.tune_scheduler(plan.epochs)
    scheduler = s.tune_scheduler(  # type: ignore[call-arg]
        plan.epochs, groups=seed_groups(plan), max_running=fits
    )
    if hasattr(scheduler, "ended_before"):  # not Ray's per-trial ASHA
        for t, epoch in plan.ended:  # an earlier invocation's trials: judged with the rest
            scheduler.ended_before(tune_params(t.point, t.seed), epoch)
    return scheduler


def _search(plan: SweepPlan) -> tuple[Any, dict[str, Any], int]:
    """(search_alg, param_space, num_samples) for the plan's strategy."""
    from ray import tune

    alg = plan.strategy.searcher(plan.space, plan.tune)
    if alg is not None:
        return alg, {}, plan.num_trials
    grid = [tune_params(t.point, t.seed) for t in plan.trials]
    return None, {"trial": tune.grid_search(grid)}, 1


def run_sweep(
    plan: SweepPlan,
    *,
    address: str | None = None,
    max_concurrent: int | None = None,
    storage: str | None = None,
    callbacks: list[Any] = (),  # type: ignore[assignment]
    printer: Callable[[str], None] = print,
    sink: ProgressSink | None = None,
    experiment: tuple[str, str, bool] | None = None,
) -> SweepOutcome:
    """Run (or resume) the sweep and return every trial's outcome.

    Raises:
        AblateError: the cluster is unreachable or a trial can never fit on it.
    """
    from ray import tune

    connect(address)
    timeline.mark("ray up")
    nodes = cluster_nodes()
    fits = check_fits(plan, nodes, max_concurrent)
    root = experiment_root(storage)
    ctx = TrialContext(
        sweep=plan.name,
        file=plan.cfg.file,
        base=plan.base,
        space=plan.space,
        imports=plan.imports,
        inline=plan.resources.inline,
        num_workers=plan.scaling.num_workers,
        use_gpu=plan.resources.use_gpu,
        worker=plan.resources.worker,
        placement_strategy=plan.scaling.placement_strategy,
        train_max_failures=plan.scaling.max_failures,
        storage_path=root,
        trial_timeout=plan.tune.trial_timeout,
        sys_path=[p for p in sys.path if p],
        rungs=tuple(plan.scheduler.rungs(plan.epochs)),
    )
    trainable = tune.with_resources(tune.with_parameters(run_trial, ctx=ctx), plan.resources.driver)
    alg, param_space, num_samples = _search(plan)
    total = plan.num_trials
    state = SweepProgress(plan.name, plan.tune.metric, str(plan.tune.mode), total, plan.epochs)
    progress = progress_callback(state, functools.partial(_label, ctx), sink or ProgressSink())
    runs, stamp, resume = experiment or tune_experiment(root, plan)
    run_config = tune.RunConfig(
        name=stamp,
        storage_path=runs,
        failure_config=tune.FailureConfig(max_failures=plan.tune.max_failures),
        # The console's last: a trial it calls done is in the tracker's queue, even if
        # a second Ctrl-C stops Tune between two callbacks.
        # Tune's JSON results only: its CSV and TensorBoard files cost CPU (.loggers).
        callbacks=[*callbacks, *tune_loggers(), progress],
        verbose=0,
    )
    scheduler = _scheduler(plan, fits)
    tune_config = tune.TuneConfig(
        metric=plan.tune.metric,
        mode=plan.tune.mode,
        search_alg=alg,
        scheduler=scheduler,
        num_samples=num_samples,
        # (a scheduler that pauses trials raises it by the number paused)
        max_concurrent_trials=fits,
        reuse_actors=reuse_actors(plan),
        trial_name_creator=TrialNamer(ctx, plan.strategy.proposes),
        trial_dirname_creator=TrialNamer(ctx, plan.strategy.proposes),
    )
    path = os.path.join(runs, stamp)
    t0 = time.perf_counter()
    if resume:
        printer(f"resuming sweep '{plan.name}' from {path}")
        tuner = tune.Tuner.restore(
            path,
            trainable,
            resume_unfinished=True,
            resume_errored=True,
            param_space=param_space or None,
        )
    else:
        printer(f"sweep '{plan.name}': {total} trials, up to {fits} at once ({_describe(plan)})")
        tuner = tune.Tuner(
            trainable, param_space=param_space, tune_config=tune_config, run_config=run_config
        )
    heap.settle()  # start-up is over: collect again, past its objects (ablate.heap)
    timeline.mark("tune starts")
    try:
        with plain_trial_actors(), reaper.reaping(not ctx.inline and driver_reaps()):
            grid = tuner.fit()
    finally:
        state.said()
    timeline.mark("tune ended")
    if state.interrupted:
        # Tune stopped on a Ctrl-C and saved the experiment: the next run restores it.
        raise KeyboardInterrupt
    # fit() returned: this Tune experiment is over; the next run of the sweep starts anew.
    active_marker(root, plan.name).unlink(missing_ok=True)
    configs = trial_configs(grid)
    outcomes = [_outcome(plan, ctx, grid[i], configs[i]) for i in range(len(grid))]
    return SweepOutcome(plan.name, path, outcomes, time.perf_counter() - t0, fits)


#: The format of the Tune state ablate pickles into an experiment (its callbacks, namers
#: and searcher name ablate's modules). Changed when those move: an interrupted sweep of an
#: older ablate then starts a new Tune experiment, and its trials still resume from their
#: own checkpoints, which ablate owns. 2: the one-way layers (``ablate.run``, ...). 3: the
#: progress callback pickles as a reference (:mod:`ablate.run.progress`). 4: seed-group ASHA
#: waits at rungs (its pickled state grew). 5: the trial's context moved
#: (:mod:`ablate.run.context`); Tune's state names ``ablate.run.loggers.skipped`` too.
TUNE_STATE_FORMAT = 5


def tune_experiment(root: str, plan: SweepPlan) -> tuple[str, str, bool]:
    """``(runs dir, experiment name, resume?)`` for this invocation's Tune experiment.

    Each ``ablate run`` gets its own Tune experiment under ``<root>/<sweep>/runs/``. The
    file ``<root>/<sweep>/ACTIVE`` names the experiment a killed invocation left unfinished,
    with a key of its trial list: the same sweep run again restores it with Ray Tune (same
    trials, same names); a changed trial list (a seed added, finished trials skipped) starts
    a new one, and its unfinished trials resume from their own checkpoints. So does an
    experiment of another :data:`TUNE_STATE_FORMAT`, whose pickles name other modules.
    """
    from ray import tune

    runs = runs_dir(root, plan.name)
    marker = active_marker(root, plan.name)
    trials = [t.name for t in plan.trials]
    key = hashlib.sha256(
        json.dumps([TUNE_STATE_FORMAT, plan.tune.strategy, plan.tune.num_samples, trials]).encode()
    ).hexdigest()[:16]
    if marker.is_file():
        stamp, _, old_key = marker.read_text().strip().partition(" ")
        if old_key == key and tune.Tuner.can_restore(str(runs / stamp)):
            return str(runs), stamp, True
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = 1
    while (runs / stamp).exists():
        n += 1
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{n}"
    runs.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{stamp} {key}\n")
    return str(runs), stamp, False


def _label(ctx: TrialContext, params: dict[str, Any]) -> tuple[str, str]:
    """(the cell's choices, the seed) of a Tune config, as the console names them."""
    _, point, seed, _ = trial_config(ctx, params)
    return short_point(point), str(seed)


def _describe(plan: SweepPlan) -> str:
    r = plan.resources
    amp = f", in {plan.train.amp_dtype}" if plan.train.amp_dtype else ""
    if r.inline:
        gpu = r.worker.get("GPU", 0.0)
        on = f" on {gpu:g} GPU" if gpu else ""
        return f"each trial trains in its Tune process{on}{amp}"
    dev = "GPU" if r.use_gpu else "CPU"
    return f"each trial: Ray Train, {r.num_workers} {dev} workers{amp}"


def trial_configs(grid: Any) -> list[dict[str, Any]]:
    """Each trial's Tune config, in the grid's order.

    ``Result.config`` is read off the trial's last result, so it is None for a trial that
    died before its first report; Tune's own trial objects always have their config.
    """
    return [dict(t.config) for t in grid._experiment_analysis.trials]


def _outcome(
    plan: SweepPlan, ctx: TrialContext, result: Any, config: dict[str, Any] | None = None
) -> TrialOutcome:
    """One trial's outcome; ``config`` is its Tune config (``result.config`` is None when
    the trial reported nothing)."""
    _, point, seed, cell = trial_config(ctx, result.config or config or {})
    metrics = dict(result.metrics or {})
    status = FINISHED
    error = None
    if result.error is not None:
        status = FAILED
        error = exception_line(result.error)
    elif int(metrics.get("epoch", 0)) < plan.epochs:
        # Short of its epochs: a scheduler's decision, or cut short (run again next time).
        status = STOPPED if plan.scheduler.stops_early else INCOMPLETE
    return TrialOutcome(
        name=trial_name(cell, seed),
        cell=cell,
        seed=seed,
        point=point,
        status=status,
        metrics=metrics,
        error=error,
        duration_s=float(metrics.get("time_total_s", 0.0)),
    )
