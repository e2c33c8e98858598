"""What a person watches while a sweep runs. On a terminal, a live view (rich): overall
progress with an ETA, the running trials with epoch k/N and their metric, the finished and
failed counts and the best cell so far. Elsewhere (CI, a log file), one plain line per
trial that ends. Trials are named by their choices; hashes stay in files."""

from __future__ import annotations

import os
from typing import Any

from ablate.console.screen import Screen
from ablate.layout import FAILED, FINISHED, STOPPED
from ablate.run.progress import ProgressSink, SweepProgress, TrialLine

INTERRUPTING = "Ctrl-C: stopping the trials and saving the sweep (Ctrl-C again stops at once)"
_WORD = {FINISHED: "done", STOPPED: "stopped", FAILED: "FAILED"}


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = round(seconds)
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def _value(progress: SweepProgress, value: float | None) -> str:
    return f"{progress.metric}={value:.4g}" if value is not None else ""


def summary(progress: SweepProgress) -> str:
    """``3/8 trials  eta 0:41  2 finished, 1 failed  best neck=GeM (val/top1=81.2, 2 seeds)``"""
    return f"{_count(progress)}  {standing(progress)}"


def _count(progress: SweepProgress) -> str:
    return f"{len(progress.ended)}/{progress.total} trials  eta {_clock(progress.eta_s())}"


def standing(progress: SweepProgress) -> str:
    """``2 finished, 1 failed  best neck=GeM (val/top1=81.2, 2 seeds)``"""
    counts = [f"{progress.count(FINISHED)} finished"]
    if progress.count(STOPPED):
        counts.append(f"{progress.count(STOPPED)} stopped early")
    if progress.count(FAILED):
        counts.append(f"{progress.count(FAILED)} failed")
    parts = [", ".join(counts)]
    best = progress.best()
    if best is not None:
        cell, mean, n = best
        seeds = f", {n} seed{'s' if n > 1 else ''}"
        parts.append(f"best {cell or '(base)'} ({_value(progress, mean)}{seeds})")
    return "  ".join(parts)


def ended_line(progress: SweepProgress, trial: TrialLine) -> str:
    """The one line of a trial that ended; a failure gives its cause and its traceback's file."""
    head = f"  [{len(progress.ended)}/{progress.total}] {_WORD.get(trial.status, trial.status):<7} {trial.label}"
    if trial.status == FAILED:
        where = f" (traceback: {trial.error_file})" if trial.error_file else ""
        return f"{head}: {trial.error}{where}"
    resumed = f", resumed at epoch {trial.resumed_at}" if trial.resumed_at else ""
    return (
        f"{head}  {_value(progress, trial.value)}  epochs={trial.epoch} "
        f"({trial.seconds:.1f}s{resumed})"
    )


class PlainLines(ProgressSink):
    """One line per ended trial: finished ones on stdout, failures on stderr."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen

    def __enter__(self) -> PlainLines:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def say(self, text: str) -> None:
        self.screen.say(text)

    def interrupted(self, progress: SweepProgress) -> None:
        self.screen.warn(INTERRUPTING)

    def ended(self, progress: SweepProgress, trial: TrialLine) -> None:
        line = ended_line(progress, trial)
        if trial.status == FAILED:
            self.screen.warn(line)
        else:
            self.screen.say(f"{line}  | {summary(progress)}")


class LiveView(ProgressSink):
    """A rich ``Live`` region redrawn at most 4 times a second; ended trials scroll above it."""

    def __init__(self, screen: Screen, starting: str = "starting") -> None:
        from rich.console import Console
        from rich.live import Live

        # rich measures the terminal on fds 1 and 2, which point at the log meanwhile.
        self.console = Console(file=screen.out, force_terminal=True, width=_width(screen.out))
        self.progress: SweepProgress | None = None
        self.starting = starting
        # Redrawn twice a second from rich's thread, so the ETA ticks between epochs.
        self.live = Live(
            console=self.console,
            get_renderable=self._render,
            refresh_per_second=2,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def __enter__(self) -> LiveView:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.refresh()
        self.live.stop()

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def interrupted(self, progress: SweepProgress) -> None:
        self.console.print(INTERRUPTING, style="yellow", markup=False, highlight=False)

    def _render(self) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        p = self.progress
        if p is None:
            return Spinner("dots", self.starting)
        head = Table.grid(padding=(0, 1))
        head.add_row(
            Text(p.name, style="bold"),
            ProgressBar(total=1.0, completed=p.done_fraction, width=30),
            f"{100 * p.done_fraction:3.0f}%",
            _count(p),
        )
        board = Text(standing(p), overflow="fold")
        rows = Table(box=None, padding=(0, 2), show_header=bool(p.running))
        rows.add_column("running")
        rows.add_column("epoch")
        rows.add_column("", min_width=12)
        rows.add_column(p.metric, justify="right")
        lines = list(p.running.values())
        for t in sorted((t for t in lines if not t.waiting), key=lambda t: t.label):
            bar = ProgressBar(total=max(p.epochs, 1), completed=t.epoch, width=12)
            value = f"{t.value:.4g}" if t.value is not None else ""
            rows.add_row(t.label, f"{t.epoch}/{p.epochs}", bar, value)
        waiting = sum(t.waiting for t in lines)
        if waiting:
            note = Text(f"  {waiting} paused, waiting for their rung's verdict", style="dim")
            return Group(head, board, rows, note)
        return Group(head, board, rows)

    def changed(self, progress: SweepProgress) -> None:
        self.progress = progress

    def ended(self, progress: SweepProgress, trial: TrialLine) -> None:
        self.progress = progress
        style = "red" if trial.status == FAILED else ""
        self.console.print(ended_line(progress, trial), style=style, markup=False, highlight=False)


def _width(out: Any) -> int | None:
    try:
        return os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return None


def sink_for(screen: Screen, starting: str) -> LiveView | PlainLines:
    """A live view on a terminal, plain lines elsewhere."""
    return LiveView(screen, starting) if screen.live else PlainLines(screen)


__all__ = ["LiveView", "PlainLines", "ended_line", "sink_for", "standing", "summary"]
