"""The one writer of a sweep's runs: the parent run, then each trial's child run, in the
layout :mod:`.schema` names."""

from __future__ import annotations

import dataclasses
import functools
import json
import numbers
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ablate.errors import AblateError
from ablate.fingerprint import code_fingerprint
from ablate.layout import (
    RESULT_TIME,
    checkpoint_file,
    split_params,
    sweep_dir_of_experiment,
    trial_name,
)
from ablate.plan import SweepPlan
from ablate.search.resolve import cell_id, resolve
from ablate.search.space import Space, short_point
from ablate.tracking import schema as S
from ablate.tracking.history import epochs_reached
from ablate.tracking.schema import FAILED, FINISHED, INTERRUPTED, KILLED, RUNNING, STOPPED
from ablate.tracking.store import (
    Store,
    TrackingError,
    batches,
    is_server,
    log,
    result_artifacts,
    result_metrics,
    result_step,
    run_filter,
    shown,
    tag_value,
    trial_params,
)
from ablate.tracking.view import experiment_tags, view_url
from ablate.tracking.worker import Writer
from ablate.train.images import decoded_images

PACKAGES = ("ablate", "torch", "ray", "mlflow", "optuna")

# The tracker of each sweep running in this process (see ablate.tracking.callback).
ACTIVE: dict[str, SweepTracker] = {}


def dimensions(space: Space) -> list[dict[str, Any]]:
    """The report's dimension list: component choices and non-numeric grids are categorical."""
    dims = []
    for d in space.all_dims():
        if d.is_component:
            categorical = True
        elif d.discrete:
            categorical = not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in d.options()
            )
        else:
            categorical = False
        dims.append({"name": d.label, "categorical": categorical})
    return dims


def _git(where: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def source_tags(where: Path) -> dict[str, str]:
    """The git commit of ``where`` (when it is in a repository) and package versions."""
    tags = {}
    for pkg in PACKAGES:
        try:
            tags[f"{S.VERSION_PREFIX}{pkg}"] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            tags[f"{S.VERSION_PREFIX}{pkg}"] = "not installed"
    commit = _git(where, "rev-parse", "HEAD")
    if commit:
        tags[S.GIT_COMMIT] = commit
        dirty = _git(where, "status", "--porcelain", "--untracked-files=no")
        tags[S.GIT_DIRTY] = "true" if dirty else "false"
    return tags


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False)


def ensure_experiment(store: Store, name: str) -> str:
    """The id of the sweep's experiment, created on first use."""
    exp = store.call("get_experiment_by_name", store.client.get_experiment_by_name, name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            raise AblateError(
                f"the MLflow experiment '{name}' is deleted",
                hint="restore it (mlflow experiments restore) or run the sweep under another --name",
            )
        return str(exp.experiment_id)
    return str(
        store.call("create_experiment", store.client.create_experiment, name, tags={S.SWEEP: name})
    )


@dataclass
class _Child:
    run_id: str
    name: str
    epochs: int
    last_step: int = -1  # steps up to here are in MLflow, or pending
    open: bool = True
    pending: list[Any] = field(default_factory=list)  # metrics not written yet
    params: list[Any] = field(default_factory=list)  # params not written yet
    artifacts: dict[str, Any] = field(default_factory=dict)  # the last result's, by key
    #: The Tune trial dirs of the run an earlier invocation left (an adopted or restored
    #: run), in storage and the drivers' own copies: their ``result.json`` holds epochs a
    #: driver killed with writes still queued never sent.
    earlier_paths: list[str] = field(default_factory=list)
    #: When its metrics last went out (``time.monotonic``), or when the run was started.
    flushed_at: float = field(default_factory=lambda: time.monotonic())


#: How often a running trial's epochs go out to MLflow, at most (seconds). A ``log_batch``
#: costs the driver's CPU per call more than per epoch (SQLite here: 4.4 ms for one epoch's
#: metrics, 9 ms for five epochs'), CPU the trials train with on a small machine. Held
#: epochs are not lost: the end of a trial, a retry, a Ctrl-C and a sweep's end write them;
#: after a driver killed outright, a restored trial reports its checkpoint's epochs again
#: and the next driver fills in the rest from Tune's ``result.json``
#: (:mod:`ablate.tracking.callback`). A scheduler's rung epoch goes out at once: a trial
#: may wait there, paused, for minutes.
FLUSH_EVERY_S = 2.0


@dataclass
class TrackerStats:
    callback_s: float = 0.0
    callbacks: int = 0
    results: int = 0
    images: int = 0


@dataclass
class SweepTracker:
    """Writes one ``ablate run`` to MLflow: the parent run, then every trial's child run.

    Lifecycle: :meth:`start` (before Ray starts) -> Tune drives the callback that
    :func:`ablate.tracking.callback.tracker_callback` makes for it through the sweep ->
    :meth:`finish` or :meth:`abort`. The ``trial_*`` methods take plain data, so they are
    usable (and tested) without Ray.
    """

    store: Store
    plan: SweepPlan
    command: str = ""
    tune_experiment: str = ""  # Ray Tune's experiment directory, when known
    experiment_id: str = ""
    parent_id: str = ""
    runs: dict[str, _Child] = field(default_factory=dict)
    cells: dict[str, str] = field(default_factory=dict)  # cell -> its cell run's id
    stats: TrackerStats = field(default_factory=TrackerStats)
    lost: TrackingError | None = None
    _source: dict[str, str] = field(default_factory=dict)
    _earlier: dict[tuple[str | None, str | None], Any] | None = None
    _orphans: dict[tuple[str, int], Any] | None = None
    _writer: Any = None

    @property
    def writer(self) -> Writer:
        """The thread that makes the sweep's MLflow calls."""
        if self._writer is None:
            self._writer = Writer()
        return self._writer

    def settle(self) -> None:
        """Wait for the writer thread to finish its queue; raise what it hit."""
        if self._writer is None:
            return
        self._writer.drain()
        err = self._writer.error
        if isinstance(err, TrackingError):
            self.lost = err
        if err is not None:
            raise err

    def start(self) -> str:
        plan, s = self.plan, self.store
        where = Path(plan.cfg.file).parent if plan.cfg.file else Path.cwd()
        # ablate.code lets `ablate run --rerun-changed-code` tell which trials ran older code.
        self._source = {**source_tags(where), S.CODE: code_fingerprint(plan.imports)}
        self.experiment_id = ensure_experiment(s, plan.name)
        self._tag_experiment()
        tags = {
            S.ROLE: S.PARENT,
            S.SWEEP: plan.name,
            S.METRIC: plan.tune.metric,
            S.MODE: plan.tune.mode,
            S.STRATEGY: plan.tune.strategy,
            S.BASELINE: json.dumps(plan.baseline, default=str),
            S.DIMENSIONS: json.dumps(dimensions(plan.space)),
            S.SWEEP_FILE: str(plan.cfg.file),
            S.COMMAND: self.command,
            S.SEEDS: json.dumps(plan.space.seeds),
            **self._source,
        }
        if plan.tune.min_effect is not None:
            tags[S.MIN_EFFECT] = str(plan.tune.min_effect)
        if plan.space.adaptive is not None:
            tags[S.ADAPTIVE] = json.dumps(dataclasses.asdict(plan.space.adaptive))
        if self.tune_experiment:
            tags[S.TUNE_EXPERIMENT] = self.tune_experiment
            self._end_killed_parents()
        run = s.call(
            "create the parent run",
            s.client.create_run,
            self.experiment_id,
            run_name=f"{plan.name} {time.strftime('%Y-%m-%d %H:%M:%S')}",
            tags={k: tag_value(v) for k, v in tags.items()},
        )
        self.parent_id = run.info.run_id
        s.call(
            "log sweep.yaml",
            s.client.log_text,
            self.parent_id,
            _yaml(plan.cfg.data),
            S.SWEEP_ARTIFACT,
        )
        ACTIVE[plan.name] = self
        return self.parent_id

    def next_experiment(self, tune_experiment: str) -> None:
        """A sweep in rounds runs one Tune experiment per round: this invocation's parent
        run spans them all; the runs of each are looked up afresh."""
        self.tune_experiment = tune_experiment
        self._earlier = None

    def _end_killed_parents(self) -> None:
        """A parent still RUNNING for this Tune experiment is from an ``ablate run`` that was
        killed: this one resumes it, so that one ends KILLED."""
        if "'" in self.tune_experiment:
            return  # not quotable in a filter; leave it RUNNING
        where = run_filter(**{S.ROLE: S.PARENT, S.TUNE_EXPERIMENT: self.tune_experiment})
        for run in self.store.all_runs(self.experiment_id, where):
            if run.info.status == RUNNING:
                self.store.call(
                    "end a killed parent run",
                    self.store.client.set_terminated,
                    run.info.run_id,
                    status=KILLED,
                )

    # -- trials (plain data in; the Tune callback adapts Trial objects) --

    def _tag_experiment(self) -> None:
        """Have MLflow's UI open the sweep on its trials (:mod:`.view`); each run refreshes
        the views, since a sweep file's dimensions may change between runs."""
        dims = {d.label: d.discrete for d in self.plan.space.all_dims()}
        tags = experiment_tags(dims, self.plan.tune.metric, str(self.plan.tune.mode))
        s = self.store
        for key, value in tags.items():
            s.call(
                "tag the experiment", s.client.set_experiment_tag, self.experiment_id, key, value
            )

    def trial_started(
        self,
        trial_id: str,
        tune_path: str,
        name: str,
        config: Mapping[str, Any],
        local_path: str = "",
    ) -> str:
        """Find or create the trial's child run; returns its run id. ``local_path``: this
        driver's own copy of the trial dir (Tune's staging dir)."""
        from mlflow.entities import Param

        s = self.store
        if trial_id in self.runs:
            child = self.runs[trial_id]
            if not child.open:
                s.call("reopen a run", s.client.update_run, child.run_id, status=RUNNING)
                child.open = True
            return child.run_id
        point, seed = split_params(dict(config))
        resolved = resolve(self.plan.base, self.plan.space, point, seed)
        cell = cell_id(resolved)
        epochs = int(resolved.get("train", {}).get("epochs") or self.plan.epochs)
        params = trial_params(point, seed)
        run = self.find_run(trial_id, tune_path)
        if run is None and self._resumes(cell, seed):
            run = self.adopt(cell, seed)
        elif run is None:  # trains from epoch 1: an unfinished run of it is history
            self._supersede(self.adopt(cell, seed))
        if run is not None:  # a retried or resumed trial: go on in its run
            child = _Child(
                run.info.run_id,
                name,
                epochs,
                epochs_reached(self.store, run, self.plan.tune.metric, none=-1),
            )
            locals_ = _paths(run.data.tags.get(S.TUNE_LOCAL_PATHS, ""))
            earlier = [run.data.tags.get(S.TUNE_PATH, ""), *locals_]
            child.earlier_paths = [p for p in dict.fromkeys(earlier) if p and p != tune_path]
            if local_path:  # the next driver back-fills from this one's copy too
                value = _joined([*locals_, local_path])
                s.call("tag a run", s.client.set_tag, child.run_id, S.TUNE_LOCAL_PATHS, value)
            if run.info.status != RUNNING:
                s.call("reopen a run", s.client.update_run, child.run_id, status=RUNNING)
            have = run.data.params
            child.params = [Param(k, v) for k, v in params.items() if k not in have]
        else:
            tags = {
                S.PARENT_RUN: self.cell_run(cell, point),
                S.ROLE: S.TRIAL,
                S.SWEEP: self.plan.name,
                S.CELL: cell,
                S.SEED: str(seed),
                S.TRIAL_NAME: name,
                S.TRIAL_ID: trial_id,
                S.TUNE_PATH: tune_path,
                S.TUNE_EXPERIMENT: str(Path(tune_path).parent),
                **self._source,
            }
            if local_path:
                tags[S.TUNE_LOCAL_PATHS] = local_path
            run = s.call(
                "create a trial run",
                s.client.create_run,
                self.experiment_id,
                run_name=f"{short_point(point)} s{seed}".strip(),
                tags={k: tag_value(v) for k, v in tags.items()},
            )
            child = _Child(run.info.run_id, name, epochs)
            # Written with the first epochs (or the end): one call less per trial.
            child.params = [Param(k, v) for k, v in params.items()]
            s.call(
                "log config.yaml",
                s.client.log_text,
                child.run_id,
                _yaml(resolved),
                S.CONFIG_ARTIFACT,
            )
        self.runs[trial_id] = child
        return child.run_id

    def cell_run(self, cell: str, point: Mapping[str, Any]) -> str:
        """This invocation's run of ``cell`` (created on its first trial): the parent of its
        seed trials."""
        from mlflow.entities import Param

        if cell in self.cells:
            return self.cells[cell]
        s = self.store
        tags = {S.PARENT_RUN: self.parent_id, S.ROLE: S.CELL_ROLE, S.SWEEP: self.plan.name,
                S.CELL: cell}  # fmt: skip
        run = s.call(
            "create a cell run",
            s.client.create_run,
            self.experiment_id,
            run_name=f"cell {cell}",
            tags={k: tag_value(v) for k, v in tags.items()},
        )
        params = [Param(k, v) for k, v in trial_params(point, 0).items() if k != "seed"]
        s.log_batch(run.info.run_id, params=params)
        self.cells[cell] = run.info.run_id
        return run.info.run_id

    def log_cells(self, summaries: Mapping[str, Mapping[str, Any]]) -> None:
        """The cells' aggregates (``{cell: {"<metric>/mean": ..., "verdict": ...}}``) on their
        cell runs, which then end FINISHED. Cells this invocation did not train have none."""
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        for cell, run_id in self.cells.items():
            got = summaries.get(cell, {})
            metrics = [Metric(k, float(v), now, 0) for k, v in got.items()
                       if k != "verdict" and v == v]  # fmt: skip
            tags = [RunTag(S.VERDICT, str(got["verdict"]))] if "verdict" in got else []
            self.store.log_batch(run_id, metrics=metrics, tags=tags)
            self.store.call("end a cell run", self.store.client.set_terminated, run_id)

    def find_run(self, trial_id: str, tune_path: str) -> Any:
        """The child run of this Tune trial from an earlier invocation of the sweep, or None.

        One search per invocation: the runs of this Tune experiment, read when the first
        trial starts (only this writer adds to them afterwards).
        """
        if self._earlier is None:
            where = {S.ROLE: S.TRIAL, S.TUNE_EXPERIMENT: str(Path(tune_path).parent)}
            if any("'" in v for v in where.values()):
                where.pop(S.TUNE_EXPERIMENT)  # not quotable in a filter: read them all
            runs = self.store.all_runs(self.experiment_id, run_filter(**where))
            self._earlier = {
                (r.data.tags.get(S.TRIAL_ID), r.data.tags.get(S.TUNE_PATH)): r for r in runs
            }
        return self._earlier.get((trial_id, tune_path))

    def adopt(self, cell: str, seed: int) -> Any:
        """An unfinished child run of the same ``(cell, seed)`` that a killed invocation left
        behind, or None. The trial resumes from its checkpoint, so it goes on in that run:
        one run per trial, one continuous metric history, no duplicates.

        Read once per invocation. Two invocations of one sweep must not overlap (the
        schedulers in deploy/ forbid it), or they could adopt the same run.
        """
        if self._orphans is None:
            runs = self.store.all_runs(self.experiment_id, run_filter(**{S.ROLE: S.TRIAL}))
            self._orphans = {}
            for r in sorted(runs, key=lambda r: r.info.start_time or 0):
                tags = r.data.tags
                unfinished = r.info.status in (RUNNING, KILLED) and tags.get(S.STATUS) != STOPPED
                if unfinished and S.CELL in tags and S.SEED in tags:
                    self._orphans[(tags[S.CELL], int(tags[S.SEED]))] = r
        return self._orphans.pop((cell, seed), None)

    def _supersede(self, run: Any) -> None:
        """Delete an unfinished run whose trial starts again from epoch 1 in a new run (a
        driver killed before the trial's first checkpoint), so that each trial has one run
        with each epoch once; MLflow can restore it."""
        if run is None:
            return
        s = self.store  # cleanup only: a store that refuses it must not stop the sweep
        _try(s.call, "tag a run", s.client.set_tag, run.info.run_id, S.STATUS, S.SUPERSEDED)
        _try(s.call, "delete a superseded run", s.client.delete_run, run.info.run_id)

    def _resumes(self, cell: str, seed: int) -> bool:
        """Whether the trial of ``(cell, seed)`` starts from a checkpoint, so that an
        unfinished run of it is its history so far. Without one (another ``--storage``,
        another machine on a shared server) it trains from epoch 1 in a new run."""
        if not self.tune_experiment:
            return True  # the checkpoint's place is unknown: trust the run
        sweep = sweep_dir_of_experiment(self.tune_experiment)
        return checkpoint_file(sweep.parent, sweep.name, trial_name(cell, seed)).is_file()

    def trial_results(
        self, trial_id: str, results: Iterable[Mapping[str, Any]], ignore: Iterable[str] = ()
    ) -> int:
        """Log each result whose epoch is not in MLflow yet, at most every
        :data:`FLUSH_EVERY_S` a trial.

        The trial's final epoch always waits, to go out with the end of its run.

        Returns:
            How many results were new.
        """
        from mlflow.entities import Metric

        child = self.runs[trial_id]
        new = 0
        for result in results:
            step = result_step(result)
            if step <= child.last_step:
                continue
            at = result.get(RESULT_TIME) or result.get("timestamp") or time.time()
            ts = int(float(at) * 1000)
            child.pending += [
                Metric(k, v, ts, step) for k, v in result_metrics(result, ignore).items()
            ]
            child.artifacts.update(result_artifacts(result))
            self._log_images(child, result, step)
            child.last_step = step
            new += 1
        self.stats.results += new
        due = time.monotonic() - child.flushed_at >= FLUSH_EVERY_S or self._at_rung(child)
        if child.pending and child.last_step < child.epochs and due:
            self._flush(child)
        return new

    @functools.cached_property
    def _rungs(self) -> frozenset[int]:
        return frozenset(self.plan.scheduler.rungs(self.plan.epochs))

    def _at_rung(self, child: _Child) -> bool:
        """Whether the trial's last epoch is one its scheduler may pause it at."""
        return child.last_step in self._rungs

    def _log_images(self, child: _Child, result: Mapping[str, Any], step: int) -> None:
        """The result's ``visual_summary`` images (:mod:`ablate.train.images`), one MLflow
        image history per name, at the result's epoch."""
        s = self.store
        for name, image in decoded_images(result).items():
            s.call("log an image", s.client.log_image, child.run_id, image, key=name, step=step)
            self.stats.images += 1

    def _flush(self, child: _Child, tags: Iterable[Any] = ()) -> None:
        """One ``log_batch`` (more past MLflow's limits): pending metrics, params, ``tags``."""
        self.store.log_batch(child.run_id, metrics=child.pending, params=child.params, tags=tags)
        child.pending, child.params = [], []
        child.flushed_at = time.monotonic()

    def flush(self) -> None:
        """Write whatever any trial still holds (epochs since its last write, or its final
        one before its end)."""
        for child in self.runs.values():
            if child.pending or child.params:
                self._flush(child)

    def trial_ended(
        self,
        trial_id: str,
        status: str,
        *,
        error: str | None = None,
        traceback: str | None = None,
        duration_s: float | None = None,
        note: str | None = None,
    ) -> None:
        """End the trial's run: FINISHED, FAILED (with its error) or KILLED (stopped early)."""
        from mlflow.entities import RunTag

        s = self.store
        child = self.runs[trial_id]
        tags = {S.STATUS: note or status}
        if duration_s is not None:
            tags[S.DURATION] = f"{duration_s:.3f}"
        if error is not None:
            tags[S.ERROR] = error
        if child.artifacts:
            tags[S.METRIC_ARTIFACTS] = ",".join(sorted(child.artifacts))
        self._flush(child, [RunTag(k, tag_value(v)) for k, v in tags.items()])
        for path, text in child.artifacts.items():
            s.call("log a metric artifact", s.client.log_text, child.run_id, text, path)
        if traceback or error:
            s.call(
                "log error.txt",
                s.client.log_text,
                child.run_id,
                traceback or error,
                S.ERROR_ARTIFACT,
            )
        s.call("end a trial run", s.client.set_terminated, child.run_id, status=status)
        child.open = False

    def trial_retrying(self, trial_id: str, error: str | None) -> None:
        from mlflow.entities import RunTag

        child = self.runs.get(trial_id)
        if child is not None:
            self._flush(child, [RunTag(S.LAST_RETRIED_ERROR, tag_value(error or "?"))])

    # -- the sweep's end --

    def finish(self, counts: Mapping[str, int], report_dir: Path | None = None) -> None:
        """Counts and the report on the parent run, which ends FINISHED."""
        from mlflow.entities import Metric

        self.settle()
        s, now = self.store, int(time.time() * 1000)
        s.log_batch(
            self.parent_id,
            metrics=[Metric(f"{S.COUNT_PREFIX}{k}", float(v), now, 0) for k, v in counts.items()],
        )
        if report_dir is not None and report_dir.is_dir():
            s.call(
                "log the report",
                s.client.log_artifacts,
                self.parent_id,
                str(report_dir),
                S.REPORT_ARTIFACT,
            )
        s.call("end the parent run", s.client.set_terminated, self.parent_id, status=FINISHED)
        ACTIVE.pop(self.plan.name, None)

    def abort(self, interrupted: bool) -> None:
        """Best effort, one attempt each: open runs end KILLED, the parent KILLED or FAILED."""
        from mlflow.entities import RunTag

        ACTIVE.pop(self.plan.name, None)
        if self._writer is not None:
            if self.lost is None and self._writer.error is None:
                try:
                    self._writer.drain(timeout=60)
                except Exception as err:  # a store that hangs: leave the rest to the next run
                    log.debug("tracking: %s", err)
            self._writer.pool.shutdown(wait=False, cancel_futures=True)
        if self.lost is not None or isinstance(getattr(self._writer, "error", None), TrackingError):
            return  # the store is gone: the next `ablate run` takes these runs over
        client = self.store.client
        for child in self.runs.values():
            if child.open:
                tags = [RunTag(S.STATUS, INTERRUPTED)]
                for m, p, t in batches(child.pending, child.params, tags):
                    _try(client.log_batch, child.run_id, metrics=m, params=p, tags=t)
                _try(client.set_terminated, child.run_id, status=KILLED)
        for run_id in self.cells.values():
            _try(client.set_terminated, run_id, status=KILLED)
        if self.parent_id:
            _try(client.set_terminated, self.parent_id, status=KILLED if interrupted else FAILED)

    def where(self) -> str:
        """Where to look at this invocation's runs: a link on a server, else ``ablate ui``."""
        if is_server(self.store.uri):
            base = self.store.uri.rstrip("/")
            return view_url(shown(base), self.experiment_id)
        return f"{shown(self.store.uri)} (browse it with: ablate ui)"


#: How many drivers' trial-dir copies a run's tag keeps (the latest).
_KEEP_PATHS = 4


def _paths(value: str) -> list[str]:
    return [p for p in value.split(os.pathsep) if p]


def _joined(paths: list[str]) -> str:
    return os.pathsep.join(list(dict.fromkeys(paths))[-_KEEP_PATHS:])


def _try(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception as err:  # the store is already known to be in trouble
        log.debug("tracking: %s", err)
