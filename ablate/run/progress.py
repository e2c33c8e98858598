"""What a person follows while a sweep runs: a model of its progress (trials by their
choices, epochs, the best cell so far) fed by a Ray Tune callback, and drawn by a
:class:`ProgressSink` (:mod:`ablate.console` draws it live on a terminal, as plain lines
elsewhere)."""

from __future__ import annotations

import signal
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablate import timeline
from ablate.errors import exception_line
from ablate.layout import FAILED, FINISHED, STOPPED

#: How a trial is called on the console: ``neck=GeM head=Linear s1`` (hashes stay in files).
Labeller = Callable[[dict[str, Any]], tuple[str, str]]  # Tune config -> (cell label, seed)


@dataclass
class TrialLine:
    """One trial as the console shows it."""

    label: str  # ``neck=GeM s1``
    cell: str  # ``neck=GeM``: the cell's label, without the seed
    epoch: int = 0
    value: float | None = None
    status: str = "RUNNING"
    seconds: float = 0.0
    resumed_at: int = 0  # the epoch a restored trial went on from (0: it started afresh)
    error: str = ""
    error_file: str = ""
    waiting: bool = False  # paused by its scheduler until its rung's verdict
    paused: bool = False  # was paused in this invocation (it goes on from a checkpoint)


@dataclass
class SweepProgress:
    """The whole sweep so far. Epochs are the unit of work: a trial stopped early by its
    scheduler counts as whole, so the ETA does not wait for epochs that never run."""

    name: str
    metric: str
    mode: str
    total: int
    epochs: int
    started: float = field(default_factory=time.monotonic)
    running: dict[str, TrialLine] = field(default_factory=dict)
    ended: list[TrialLine] = field(default_factory=list)
    interrupted: bool = False  # a Ctrl-C reached Tune, which is stopping the trials
    _cells: dict[str, list[float]] = field(default_factory=dict)
    _notice: threading.Thread | None = None  # says the Ctrl-C on the console

    def said(self, timeout: float = 2.0) -> None:
        """Wait (briefly) until the Ctrl-C's notice is on the console, so what the command
        says next comes after it."""
        if self._notice is not None:
            self._notice.join(timeout)

    def count(self, status: str) -> int:
        return sum(t.status == status for t in self.ended)

    @property
    def done_fraction(self) -> float:
        work = self.total * max(self.epochs, 1)
        done = len(self.ended) * max(self.epochs, 1) + sum(t.epoch for t in self.running.values())
        return min(done / work, 1.0) if work else 1.0

    def eta_s(self) -> float | None:
        """Seconds left at the pace so far; None before any epoch ended."""
        frac = self.done_fraction
        if frac <= 0:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed * (1 - frac) / frac

    def best(self) -> tuple[str, float, int] | None:
        """(cell label, mean metric over its finished seeds, seeds) of the best cell so far."""
        if not self._cells:
            return None
        means = {c: statistics.fmean(v) for c, v in self._cells.items()}
        pick = max if self.mode == "max" else min
        cell = pick(means, key=lambda c: means[c])
        return cell, means[cell], len(self._cells[cell])

    def end(self, trial_id: str, status: str) -> TrialLine | None:
        line = self.running.pop(trial_id, None)
        if line is None:
            return None
        line.status = status
        self.ended.append(line)
        if status == FINISHED and line.value is not None:
            self._cells.setdefault(line.cell, []).append(line.value)
        return line


class ProgressSink:
    """Draws a :class:`SweepProgress`. The base class draws nothing."""

    def changed(self, progress: SweepProgress) -> None:
        """Called after every epoch result and every trial start."""

    def ended(self, progress: SweepProgress, trial: TrialLine) -> None:
        """Called once per trial that finished, stopped early, or failed."""

    def interrupted(self, progress: SweepProgress) -> None:
        """Called on the first Ctrl-C, from the signal handler: be quick."""


def _error_of(trial: Any) -> tuple[str, str]:
    """A failed trial's one-line cause, and where its full traceback is kept: the trial's
    directory in the sweep's storage (Tune writes it in a temporary session first)."""
    path = str(getattr(trial, "error_file", "") or "")
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace") if path else ""
    except OSError:
        text = ""
    kept = (
        Path(str(trial.path)) / Path(path).name if path and getattr(trial, "path", None) else None
    )
    return (exception_line(text) if text else "the trial failed"), _shown(kept or Path(path))


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


#: The callback of this invocation. Tune pickles its callbacks into the experiment's
#: tuner.pkl; a resumed sweep unpickles them as this one (a live view does not pickle).
_ACTIVE: list[Any] = []


def _restored() -> Any:
    if _ACTIVE:
        return _ACTIVE[-1]
    from ray.tune import Callback

    return Callback()


#: Set when this process's Tune sees its first epoch result: the start-up is over. Work that
#: can wait (the report's imports) waits for it, and leaves the CPU to the starting trials.
first_result = threading.Event()


def progress_callback(progress: SweepProgress, labeller: Labeller, sink: ProgressSink) -> Any:
    """A Ray Tune ``Callback`` that keeps ``progress`` and tells ``sink``."""
    from ray.tune import Callback

    class Progress(Callback):
        def __reduce__(self) -> tuple[Any, ...]:
            return (_restored, ())

        def setup(self, *args: Any, **info: Any) -> None:
            timeline.mark("tune set up")
            # Tune installed its Ctrl-C handler just before: the first Ctrl-C stops the
            # trials and saves the experiment; it then restores the handler it found, so a
            # second Ctrl-C is a KeyboardInterrupt at once. We only say so, and remember it.
            if threading.current_thread() is not threading.main_thread():
                return
            tune_handler = signal.getsignal(signal.SIGINT)
            if not callable(tune_handler):
                return

            def interrupt(sig: int, frame: Any) -> None:
                tune_handler(sig, frame)  # first: the next Ctrl-C is a KeyboardInterrupt
                if progress.interrupted:
                    return
                progress.interrupted = True
                # A handler runs between two bytecodes of the main thread, maybe inside a
                # print to the same stream: printing here can raise "reentrant call" inside
                # a Tune callback, which fails that trial. Another thread prints instead.
                progress._notice = threading.Thread(
                    target=sink.interrupted, args=(progress,), name="ablate-ctrl-c", daemon=True
                )
                progress._notice.start()

            signal.signal(signal.SIGINT, interrupt)

        def _line(self, trial: Any) -> TrialLine:
            line = progress.running.get(trial.trial_id)
            if line is None:
                cell, seed = labeller(trial.config)
                line = TrialLine(label=f"{cell} s{seed}".strip(), cell=cell)
                progress.running[trial.trial_id] = line
            return line

        def on_trial_start(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            timeline.mark("trial placed")
            self._line(trial)
            sink.changed(progress)

        def on_trial_result(
            self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
        ) -> None:
            first_result.set()
            line = self._line(trial)
            epoch = int(result.get("epoch", 0))
            line.waiting = False
            if "ablate_restored" in result and not line.paused:
                line.resumed_at = epoch  # the epochs up to its checkpoint, again
            line.epoch = epoch
            value = result.get(progress.metric)
            line.value = float(value) if isinstance(value, int | float) else line.value
            line.seconds = float(result.get("time_total_s", line.seconds))
            sink.changed(progress)

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            changed = False
            for trial in trials:
                line = progress.running.get(trial.trial_id)
                waiting = trial.status == "PAUSED"
                if line is not None and line.waiting != waiting:
                    line.waiting = waiting
                    line.paused |= waiting
                    changed = True
            if changed:
                sink.changed(progress)

        def on_trial_complete(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            line = self._line(trial)
            status = FINISHED if line.epoch >= progress.epochs else STOPPED
            ended = progress.end(trial.trial_id, status)
            if ended is not None:
                sink.ended(progress, ended)

        def on_trial_error(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            line = self._line(trial)
            line.error, line.error_file = _error_of(trial)
            ended = progress.end(trial.trial_id, FAILED)
            if ended is not None:
                sink.ended(progress, ended)

    callback = Progress()
    _ACTIVE[:] = [callback]
    return callback


__all__ = ["Labeller", "ProgressSink", "SweepProgress", "TrialLine", "progress_callback"]
