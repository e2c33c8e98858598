"""The Ray Tune side of tracking: a callback in the Tune driver that hands every trial event
to the :class:`~ablate.tracking.tracker.SweepTracker` through its writer thread
(:mod:`.worker`).

Tune's event loop must not wait on MLflow: a trial's next ``report`` waits for the driver to
take its last one, so a slow store (a commit, a round trip to a server) would stall every
trial. The callback only copies what it needs from the ``Trial`` and queues it; one thread in
the driver makes every MLflow call, in order. A store that stays down ends the sweep at the
callback after the one that failed (:class:`~ablate.tracking.store.TrackingError`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.errors import exception_line
from ablate.layout import RESULT_TIME
from ablate.tracking.schema import (
    FAILED,
    FINISHED,
    INCOMPLETE,
    INTERRUPTED,
    KILLED,
    RUNNING,
    STOPPED,
)
from ablate.tracking.store import TrackingError, log, result_step
from ablate.tracking.tracker import ACTIVE, SweepTracker

# Tune pickles its callbacks into the experiment's tuner.pkl, and a resumed sweep unpickles
# them: the callback pickles as a reference to ACTIVE, so a resumed sweep reports to this
# invocation's tracker rather than to the one that started it.
_CLASS: list[type] = []
_TUNE_KEYS = frozenset(
    {
        "done",
        "trial_id",
        "experiment_tag",
        "should_checkpoint",
        "ablate_cell",
        "ablate_seed",
        "ablate_restored",
        RESULT_TIME,
    }
)


@dataclass(frozen=True)
class TrialView:
    """What the writer needs of a ``Trial``, copied in Tune's thread at the event."""

    trial_id: str
    path: str
    name: str
    config: dict[str, Any]
    status: str
    last_result: dict[str, Any]
    error_file: str | None
    pickled_error_file: str | None
    #: The driver's own copy of the trial dir: its ``result.json`` is written at once, the
    #: copy at ``path`` (storage) only every 10 s or more.
    local_path: str = ""

    @classmethod
    def of(cls, trial: Any) -> TrialView:
        return cls(
            trial.trial_id,
            str(trial.path),
            str(trial),
            dict(trial.config),
            str(trial.status),
            dict(trial.last_result or {}),
            trial.error_file,
            trial.pickled_error_file,
            str(trial.local_path or ""),
        )


def tracker_callback(tracker: SweepTracker) -> Any:
    """A Ray Tune ``Callback`` that feeds ``tracker``."""
    return _callback_class()(tracker)


def _restored_callback(sweep: str) -> Any:
    tracker = ACTIVE.get(sweep)
    if tracker is not None:
        return tracker_callback(tracker)
    from ray.tune import Callback

    return Callback()  # resumed without tracking: a callback that does nothing


def _read_results(tune_path: str) -> list[dict[str, Any]]:
    """A trial's results as Tune wrote them (``result.json``, one JSON object a line)."""
    path = Path(tune_path) / "result.json"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a kill
    return out


def _backlog(paths: list[str]) -> list[dict[str, Any]]:
    """Every result in the ``result.json`` of these trial dirs, by epoch: copies overlap
    and each may miss the latest epochs (storage lags; a killed driver's copy stops)."""
    found = [r for p in dict.fromkeys(paths) if p for r in _read_results(p)]
    return sorted(found, key=result_step)


class Jobs:
    """The writer thread's side: trial events, applied to the tracker in order."""

    def __init__(self, tracker: SweepTracker, ignore: frozenset[str]) -> None:
        self.t = tracker
        self.ignore = ignore

    def start(self, v: TrialView) -> None:
        t = self.t
        known = v.trial_id in t.runs
        t.trial_started(v.trial_id, v.path, v.name, v.config, v.local_path)
        if not known:  # a resumed trial: fill in what a lost store missed
            paths = [*t.runs[v.trial_id].earlier_paths, v.path, v.local_path]
            t.trial_results(v.trial_id, _backlog(paths), self.ignore)

    def ensure(self, v: TrialView) -> None:
        if v.trial_id not in self.t.runs:
            self.start(v)

    def result(self, v: TrialView, result: dict[str, Any]) -> None:
        self.ensure(v)
        self.t.trial_results(v.trial_id, [result], self.ignore)

    def end(self, v: TrialView, failed: bool, at_exit: bool = False) -> None:
        t = self.t
        self.ensure(v)
        child = t.runs[v.trial_id]
        duration = v.last_result.get("time_total_s")
        if failed:
            first, text = _trial_error(v)
            t.trial_ended(v.trial_id, FAILED, error=first, traceback=text, duration_s=duration)
        elif result_step(v.last_result) >= child.epochs:
            t.trial_ended(v.trial_id, FINISHED, duration_s=duration)
        else:
            # Short of its epochs: an early-stopping scheduler's decision (done, not
            # comparable with full trials), or the sweep ended first (Ctrl-C), or the
            # trainable returned early. Only the first is final: `ablate run` runs the
            # others again.
            note = (
                INTERRUPTED if at_exit else STOPPED if t.plan.scheduler.stops_early else INCOMPLETE
            )
            t.trial_ended(v.trial_id, KILLED, duration_s=duration, note=note)

    def retrying(self, v: TrialView) -> None:
        self.t.trial_retrying(v.trial_id, _trial_error(v)[0])

    def sync(self, views: list[TrialView]) -> None:
        """End what is still open (a Ctrl-C), and sync the trials an earlier invocation
        finished while the store was away."""
        t = self.t
        for v in views:
            child = t.runs.get(v.trial_id)
            if child is None:
                if v.status not in ("TERMINATED", "ERROR"):
                    continue
                run = t.find_run(v.trial_id, v.path)
                if run is not None and run.info.status != RUNNING:
                    continue  # ended in MLflow as in Tune
                self.start(v)
                child = t.runs[v.trial_id]
            if child.open:  # still running when the sweep ended, or never seen ending
                self.end(v, v.status == "ERROR", at_exit=True)
        t.flush()


def _callback_class() -> type:
    if _CLASS:
        return _CLASS[0]
    from ray.tune import Callback
    from ray.tune.result import AUTO_RESULT_KEYS

    ignore = frozenset(AUTO_RESULT_KEYS) | _TUNE_KEYS

    class TrackerCallback(Callback):  # type: ignore[misc]
        """Queues every trial event for the tracker's writer thread; times itself."""

        def __init__(self, tracker: SweepTracker) -> None:
            self.tracker = tracker
            self.jobs = Jobs(tracker, ignore)

        def __reduce__(self) -> tuple[Any, ...]:
            return (_restored_callback, (self.tracker.plan.name,))

        def _queue(self, fn: Callable[..., None], *args: Any, wait: bool = False) -> None:
            t = self.tracker
            if t.lost is not None:
                return
            t0 = time.perf_counter()
            try:
                t.writer.raise_error()
                t.writer.submit(fn, *args)
                if wait:
                    t.writer.drain()
                    t.writer.raise_error()
            except TrackingError as err:
                t.lost = err
                raise
            finally:
                t.stats.callback_s += time.perf_counter() - t0
                t.stats.callbacks += 1

        def on_trial_start(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            self._queue(self.jobs.start, TrialView.of(trial))

        def on_trial_result(
            self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
        ) -> None:
            self._queue(self.jobs.result, TrialView.of(trial), dict(result))

        def on_trial_complete(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            self._queue(self.jobs.end, TrialView.of(trial), False)

        def on_trial_error(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            self._queue(self.jobs.end, TrialView.of(trial), True)

        def on_trial_recover(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            self._queue(self.jobs.retrying, TrialView.of(trial))

        def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
            # Tune's fit() returns only once everything it saw is in MLflow.
            self._queue(self.jobs.sync, [TrialView.of(t) for t in trials], wait=True)

    _CLASS.append(TrackerCallback)
    return TrackerCallback


def _trial_error(v: TrialView) -> tuple[str, str | None]:
    """A failed trial's cause (one line) and full text, from the files Tune wrote in the
    driver's trial directory (storage gets its copy later)."""
    first, text = "the trial failed (Tune recorded no error)", None
    try:
        if v.error_file and Path(v.error_file).is_file():
            text = Path(v.error_file).read_text(encoding="utf-8", errors="replace")
            first = exception_line(Exception(text))
        if v.pickled_error_file and Path(v.pickled_error_file).is_file():
            from ray import cloudpickle

            with open(v.pickled_error_file, "rb") as f:
                first = exception_line(cloudpickle.load(f))
    except Exception as err:  # an unreadable error file must not hide the failure itself
        log.debug("tracking: reading %s's error: %s", v.name, err)
    return first, text
