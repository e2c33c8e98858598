"""The Ray Tune side of tracking: a callback in the Tune driver that hands every trial event
to the :class:`~ablate.tracking.writer.SweepTracker`, and times itself."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ablate.tracking.store import TrackingError, log, result_step
from ablate.tracking.writer import ACTIVE, FAILED, FINISHED, KILLED, RUNNING, SweepTracker

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
    }
)


def tracker_callback(tracker: SweepTracker) -> Any:
    """A Ray Tune ``Callback`` that feeds ``tracker``."""
    return _callback_class()(tracker)


def _restored_callback(sweep: str) -> Any:
    tracker = ACTIVE.get(sweep)
    if tracker is not None:
        return tracker.callback()
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


def _callback_class() -> type:
    if _CLASS:
        return _CLASS[0]
    from ray.tune import Callback
    from ray.tune.result import AUTO_RESULT_KEYS

    ignore = frozenset(AUTO_RESULT_KEYS) | _TUNE_KEYS

    class TrackerCallback(Callback):  # type: ignore[misc]
        """Hands every trial event to the tracker, in the Tune driver; times itself."""

        def __init__(self, tracker: SweepTracker) -> None:
            self.tracker = tracker

        def __reduce__(self) -> tuple[Any, ...]:
            return (_restored_callback, (self.tracker.plan.name,))

        def _guard(self, fn: Callable[..., None], *args: Any) -> None:
            t = self.tracker
            if t.lost is not None:
                return
            t0 = time.perf_counter()
            try:
                fn(*args)
            except TrackingError as err:
                t.lost = err
                raise
            finally:
                t.stats.callback_s += time.perf_counter() - t0
                t.stats.callbacks += 1

        def _start(self, trial: Any) -> None:
            t = self.tracker
            known = trial.trial_id in t.runs
            t.trial_started(trial.trial_id, str(trial.path), str(trial), trial.config)
            if not known:  # a resumed trial: fill in what a lost store missed
                t.trial_results(trial.trial_id, _read_results(str(trial.path)), ignore)

        def _ensure(self, trial: Any) -> None:
            if trial.trial_id not in self.tracker.runs:
                self._start(trial)

        def on_trial_start(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            self._guard(self._start, trial)

        def on_trial_result(
            self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
        ) -> None:
            def log_result() -> None:
                self._ensure(trial)
                self.tracker.trial_results(trial.trial_id, [result], ignore)

            self._guard(log_result)

        def _end(self, trial: Any, failed: bool, at_exit: bool = False) -> None:
            t = self.tracker
            self._ensure(trial)
            child = t.runs[trial.trial_id]
            last = trial.last_result or {}
            duration = last.get("time_total_s")
            if failed:
                first, text = _trial_error(trial)
                t.trial_ended(
                    trial.trial_id, FAILED, error=first, traceback=text, duration_s=duration
                )
            elif result_step(last) >= child.epochs:
                t.trial_ended(trial.trial_id, FINISHED, duration_s=duration)
            else:
                # Short of its epochs: ASHA's decision (done, not comparable with full trials),
                # or the sweep ended first (Ctrl-C), or the trainable returned early. Only the
                # first is final: `ablate run` runs the others again.
                note = (
                    "INTERRUPTED"
                    if at_exit
                    else "STOPPED"
                    if t.plan.tune.scheduler == "asha"
                    else "INCOMPLETE"
                )
                t.trial_ended(trial.trial_id, KILLED, duration_s=duration, note=note)

        def on_trial_complete(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            self._guard(self._end, trial, False)

        def on_trial_error(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            self._guard(self._end, trial, True)

        def on_trial_recover(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            def retrying() -> None:
                self.tracker.trial_retrying(trial.trial_id, _trial_error(trial)[0])

            self._guard(retrying)

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            if self.tracker.pending:  # every turn of Tune's loop: only look, mostly
                self._guard(self.tracker.flush_due)

        def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
            """End what is still open (a Ctrl-C), and sync the trials an earlier invocation
            finished while the store was away."""

            def sync() -> None:
                t = self.tracker
                for trial in trials:
                    child = t.runs.get(trial.trial_id)
                    if child is None:
                        if trial.status not in ("TERMINATED", "ERROR"):
                            continue
                        run = t.find_run(trial.trial_id, str(trial.path))
                        if run is not None and run.info.status != RUNNING:
                            continue  # ended in MLflow as in Tune
                        self._start(trial)
                        child = t.runs[trial.trial_id]
                    if child.open:  # still running when the sweep ended, or never seen ending
                        self._end(trial, trial.status == "ERROR", at_exit=True)
                t.flush_due(everything=True)

            self._guard(sync)

    _CLASS.append(TrackerCallback)
    return TrackerCallback


def _trial_error(trial: Any) -> tuple[str, str | None]:
    """A failed trial's cause (one line) and full text, from the files Tune just wrote in the
    driver's trial directory (storage gets its copy later)."""
    from ablate.sweep import _first_line

    first, text = "the trial failed (Tune recorded no error)", None
    try:
        if trial.error_file and Path(trial.error_file).is_file():
            text = Path(trial.error_file).read_text(encoding="utf-8", errors="replace")
            first = _first_line(Exception(text))
        if trial.pickled_error_file and Path(trial.pickled_error_file).is_file():
            from ray import cloudpickle

            with open(trial.pickled_error_file, "rb") as f:
                first = _first_line(cloudpickle.load(f))
    except Exception as err:  # an unreadable error file must not hide the failure itself
        log.debug("tracking: reading %s's error: %s", trial, err)
    return first, text
