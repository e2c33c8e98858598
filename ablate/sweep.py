"""Run a sweep on Ray Tune: connect, size concurrency to the cluster, run, resume.

Ray Tune is imported here and nowhere else. Each Tune trial is :func:`ablate.trial.run_trial`.
Grid-like strategies (factorial, one_at_a_time, random) hand Tune the exact trial list, so
trial names are deterministic and an interrupted sweep resumes with ``Tuner.restore``.
``optuna`` proposes points with TPE through Ray Tune's ``OptunaSearch``, define-by-run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablate.errors import AblateError
from ablate.plan import SweepPlan, check_fits
from ablate.space import Space
from ablate.trial import TrialContext, run_trial, trial_env

FINISHED, FAILED, STOPPED = "FINISHED", "FAILED", "STOPPED"


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


def connect(
    address: str | None,
    *,
    env: dict[str, str] | None = None,
    runtime_env: dict[str, Any] | None = None,
) -> None:
    """Start a local Ray, or connect to ``address`` (or ``RAY_ADDRESS``).

    ``runtime_env`` replaces the default one (this machine's ``sys.path`` as ``PYTHONPATH``):
    through Ray Client the cluster cannot see this machine's files and gets code as
    ``py_modules`` (:mod:`ablate.cluster`).
    """
    import ray

    if ray.is_initialized():
        return
    if address or os.environ.get("RAY_ADDRESS", "").startswith("ray://"):
        from ablate.cluster import enable_token_auth

        # Ray's clients send the cluster's token only in token mode. (A job's driver, given
        # its cluster by RAY_ADDRESS, already runs in the cluster's mode.)
        enable_token_auth()
    address = address or os.environ.get("RAY_ADDRESS") or None
    # A Ray Job's driver already runs in the job's runtime env (ablate.cluster ships one);
    # ray.init may not set the same env vars again.
    if runtime_env is None and "RAY_JOB_CONFIG_JSON_ENV_VAR" not in os.environ:
        runtime_env = {"env_vars": {**trial_env(), **(env or {})}}
    # Ray's start-up chatter (token-auth notices, dashboard hints) is not for ablate's users.
    logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        if address:
            ray.init(
                address=address,
                runtime_env=runtime_env,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        else:
            ray.init(
                include_dashboard=False,
                runtime_env=runtime_env,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
    except ConnectionError as err:
        raise AblateError(
            f"cannot connect to the Ray cluster at {address}: {err}",
            hint="check --address / RAY_ADDRESS, and the token (RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH)",
        ) from None


def cluster_nodes() -> list[dict[str, float]]:
    import ray

    return [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]


class _DefineByRun:
    """Optuna's define-by-run space: a component's own dims are asked only when chosen.

    A class, not a closure: Tune pickles the searcher (and so this) into its checkpoints.
    """

    def __init__(self, space: Space, seed: int) -> None:
        self.space = space
        self.seed = seed

    def __call__(self, trial: Any) -> dict[str, Any]:
        self._visit(trial, self.space.dims)
        return {"seed": self.seed}

    def _visit(self, trial: Any, dims: list[Any]) -> None:
        for d in dims:
            if d.is_component:
                label = trial.suggest_categorical(d.label, d.options())
                self._visit(trial, d.choice(label).dims)
                continue
            dist = d.dist
            if dist.discrete:
                trial.suggest_categorical(d.label, list(dist.args))
            elif dist.kind == "uniform":
                trial.suggest_float(d.label, dist.args[0], dist.args[1])
            elif dist.kind == "loguniform":
                trial.suggest_float(d.label, dist.args[0], dist.args[1], log=True)
            elif dist.kind == "randint":
                trial.suggest_int(d.label, dist.args[0], dist.args[1] - 1)
            else:
                trial.suggest_float(d.label, dist.args[0], dist.args[1], step=dist.args[2])


def _search(plan: SweepPlan) -> tuple[Any, dict[str, Any], int]:
    """(search_alg, param_space, num_samples) for the plan's strategy."""
    from ray import tune

    if plan.tune.strategy == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        sampler = optuna.samplers.TPESampler(seed=plan.tune.seed, multivariate=True, group=True)
        alg = OptunaSearch(
            space=_DefineByRun(plan.space, plan.space.seeds[0]),
            metric=plan.tune.metric,
            mode=plan.tune.mode,
            sampler=sampler,
        )
        return alg, {}, plan.tune.num_samples
    grid = [{"point": t.point, "seed": t.seed} for t in plan.trials]
    return None, {"trial": tune.grid_search(grid)}, 1


def _scheduler(plan: SweepPlan) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if plan.tune.scheduler == "fifo":
        return FIFOScheduler()
    opts = dict(plan.tune.asha or {})
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=int(opts.get("max_t", plan.epochs)),
        grace_period=int(opts.get("grace_period", 1)),
        reduction_factor=float(opts.get("reduction_factor", 3)),
    )


def _namer(ctx: TrialContext, unique: bool) -> Callable[[Any], str]:
    """Deterministic trial names ``<cell>-s<seed>``; Optuna's may repeat a point, so its
    names also carry Tune's trial id."""
    from ablate.trial import trial_config

    def name(trial: Any) -> str:
        _, _, seed, cell = trial_config(ctx, trial.config)
        return f"{cell}-s{seed}-{trial.trial_id}" if unique else f"{cell}-s{seed}"

    return name


def experiment_root(storage: str | None) -> str:
    return str(Path(storage or Path.cwd() / ".ablate" / "ray").resolve())


def run_sweep(
    plan: SweepPlan,
    *,
    address: str | None = None,
    max_concurrent: int | None = None,
    storage: str | None = None,
    callbacks: list[Any] = (),  # type: ignore[assignment]
    printer: Callable[[str], None] = print,
    experiment: tuple[str, str, bool] | None = None,
) -> SweepOutcome:
    """Run (or resume) the sweep and return every trial's outcome.

    Raises:
        AblateError: the cluster is unreachable or a trial can never fit on it.
    """
    from ray import tune

    connect(address)
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
        use_gpu=plan.scaling.use_gpu,
        worker=plan.resources.worker,
        placement_strategy=plan.scaling.placement_strategy,
        train_max_failures=plan.scaling.max_failures,
        storage_path=root,
        trial_timeout=plan.tune.trial_timeout,
        sys_path=[p for p in sys.path if p],
    )
    trainable = tune.with_resources(tune.with_parameters(run_trial, ctx=ctx), plan.resources.driver)
    alg, param_space, num_samples = _search(plan)
    progress = _Progress(plan, printer)
    runs_dir, stamp, resume = experiment or tune_experiment(root, plan)
    run_config = tune.RunConfig(
        name=stamp,
        storage_path=runs_dir,
        failure_config=tune.FailureConfig(max_failures=plan.tune.max_failures),
        callbacks=[progress, *callbacks],
        verbose=0,
    )
    tune_config = tune.TuneConfig(
        metric=plan.tune.metric,
        mode=plan.tune.mode,
        search_alg=alg,
        scheduler=_scheduler(plan),
        num_samples=num_samples,
        max_concurrent_trials=fits,
        # In-process trials share nothing but imports, so Tune may reuse their actors:
        # measured in BENCHMARKS.md, this is most of the per-trial fixed cost. A trial with a
        # timeout may leave a hung thread behind, so its actor is never reused.
        reuse_actors=plan.resources.inline and plan.tune.trial_timeout is None,
        trial_name_creator=_namer(ctx, plan.tune.strategy == "optuna"),
        trial_dirname_creator=_namer(ctx, plan.tune.strategy == "optuna"),
    )
    path = os.path.join(runs_dir, stamp)
    total = len(plan.trials) if plan.tune.strategy != "optuna" else plan.tune.num_samples
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
    grid = tuner.fit()
    # fit() returned: this Tune experiment is over; the next run of the sweep starts anew.
    (Path(root) / plan.name / ACTIVE).unlink(missing_ok=True)
    outcomes = [_outcome(plan, ctx, grid[i]) for i in range(len(grid))]
    return SweepOutcome(plan.name, path, outcomes, time.perf_counter() - t0, fits)


ACTIVE = "ACTIVE"


def tune_experiment(root: str, plan: SweepPlan) -> tuple[str, str, bool]:
    """``(runs dir, experiment name, resume?)`` for this invocation's Tune experiment.

    Each ``ablate run`` gets its own Tune experiment under ``<root>/<sweep>/runs/``. The
    file ``<root>/<sweep>/ACTIVE`` names the experiment a killed invocation left unfinished,
    with a key of its trial list: the same sweep run again restores it with Ray Tune (same
    trials, same names); a changed trial list (a seed added, finished trials skipped) starts
    a new one, and its unfinished trials resume from their own checkpoints.
    """
    from ray import tune

    base = Path(root) / plan.name
    runs = base / "runs"
    marker = base / ACTIVE
    key = hashlib.sha256(
        json.dumps(
            [plan.tune.strategy, plan.tune.num_samples, [t.name for t in plan.trials]]
        ).encode()
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


def _describe(plan: SweepPlan) -> str:
    r = plan.resources
    if r.inline:
        return "each trial trains in its Tune process"
    dev = "GPU" if plan.scaling.use_gpu else "CPU"
    return f"each trial: Ray Train, {r.num_workers} {dev} workers"


def _outcome(plan: SweepPlan, ctx: TrialContext, result: Any) -> TrialOutcome:
    from ablate.trial import trial_config

    _, point, seed, cell = trial_config(ctx, result.config)
    metrics = dict(result.metrics or {})
    status = FINISHED
    error = None
    if result.error is not None:
        status = FAILED
        error = _first_line(result.error)
    elif int(metrics.get("epoch", 0)) < plan.epochs:
        status = STOPPED
    return TrialOutcome(
        name=f"{cell}-s{seed}",
        cell=cell,
        seed=seed,
        point=point,
        status=status,
        metrics=metrics,
        error=error,
        duration_s=float(metrics.get("time_total_s", 0.0)),
    )


def _first_line(err: BaseException) -> str:
    """The user-facing line of a trial's error: its root cause, not Ray's wrapping."""
    cause: BaseException | None = err
    while cause is not None and getattr(cause, "cause", None) is not None:
        cause = cause.cause  # type: ignore[attr-defined]
    text = str(cause if cause is not None else err).strip().splitlines()
    lines = [ln for ln in text if ln.strip()]
    for ln in reversed(lines):
        if ":" in ln and not ln.startswith(" "):
            return ln.strip()
    return lines[-1].strip() if lines else type(err).__name__


class _Progress:
    """Tune callback: one line per finished trial, in place of Tune's tables."""

    def __new__(cls, plan: SweepPlan, printer: Callable[[str], None]) -> Any:
        from ray.tune import Callback

        class Progress(Callback):
            def __init__(self) -> None:
                self.done = 0
                self.first_epoch: dict[str, float] = {}

            def on_trial_result(
                self,
                iteration: int,
                trials: list[Any],
                trial: Any,
                result: dict[str, Any],
                **info: Any,
            ) -> None:
                restored = float(result.get("epoch", 1)) if "ablate_restored" in result else 0.0
                self.first_epoch.setdefault(trial.trial_id, restored)

            def _line(self, trial: Any, status: str, detail: str) -> None:
                self.done += 1
                printer(f"  [{self.done}] {status:<6} {trial} {detail}")

            def on_trial_complete(
                self, iteration: int, trials: list[Any], trial: Any, **info: Any
            ) -> None:
                result = trial.last_result or {}
                value = result.get(plan.tune.metric)
                shown = f"{plan.tune.metric}={value:.4g}" if isinstance(value, int | float) else ""
                first = self.first_epoch.get(trial.trial_id, 0.0)
                resumed = f", resumed at epoch {first:.0f}" if first else ""
                self._line(
                    trial,
                    "done",
                    f"{shown} epochs={result.get('epoch', 0):.0f} "
                    f"({result.get('time_total_s', 0):.1f}s{resumed})",
                )

            def on_trial_error(
                self, iteration: int, trials: list[Any], trial: Any, **info: Any
            ) -> None:
                self._line(trial, "FAILED", "")

        return Progress()
