"""What a person sees while a sweep runs, as pure logic: the progress model, the lines and the
live view drawn from it, the terminal kept for ablate's words, the checkpoint cadence."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ablate.console.live import LiveView, PlainLines, ended_line, summary
from ablate.console.screen import Screen, quiet
from ablate.layout import FAILED, FINISHED, STOPPED
from ablate.run.progress import SweepProgress, TrialLine
from ablate.run.training import Cadence


def progress_with(*ended: tuple[str, str, float | None]) -> SweepProgress:
    p = SweepProgress("necks", "val/top1", "max", total=4, epochs=10)
    for i, (cell, status, value) in enumerate(ended):
        p.running[str(i)] = TrialLine(f"{cell} s{i}", cell, epoch=10, value=value)
        p.end(str(i), status)
    return p


def test_best_cell_is_the_best_mean_over_finished_seeds() -> None:
    p = progress_with(
        ("neck=GeM", FINISHED, 80.0),
        ("neck=GeM", FINISHED, 70.0),
        ("neck=GAP", FINISHED, 76.0),
        ("neck=Flat", STOPPED, 99.0),  # stopped early: not comparable with full trials
    )
    assert p.best() == ("neck=GAP", 76.0, 1)
    p.mode = "min"
    assert p.best() == ("neck=GeM", 75.0, 2)


def test_eta_counts_epochs_and_takes_stopped_trials_as_whole() -> None:
    p = SweepProgress("s", "val/top1", "max", total=2, epochs=10)
    assert p.eta_s() is None
    p.running["a"] = TrialLine("a s0", "a", epoch=5)
    assert p.done_fraction == 0.25
    p.started = time.monotonic() - 10.0
    eta = p.eta_s()
    assert eta is not None and 29.0 < eta < 31.0
    p.end("a", STOPPED)
    assert p.done_fraction == 0.5


def test_a_failure_is_one_line_naming_choices_cause_and_traceback() -> None:
    p = SweepProgress("s", "val/top1", "max", total=2, epochs=3)
    p.running["x"] = TrialLine(
        "head=Boom s0", "head=Boom", epoch=1, error="RuntimeError: boom", error_file="t/error.txt"
    )
    line = ended_line(p, p.end("x", FAILED))  # type: ignore[arg-type]
    assert line == "  [1/2] FAILED  head=Boom s0: RuntimeError: boom (traceback: t/error.txt)"


def test_plain_lines_put_failures_on_stderr_and_the_rest_on_stdout() -> None:
    out, err = io.StringIO(), io.StringIO()
    sink = PlainLines(Screen(out, err))
    p = progress_with(("neck=GeM", FINISHED, 81.25))
    sink.ended(p, p.ended[0])
    p.running["f"] = TrialLine("neck=Bad s1", "neck=Bad", error="ValueError: no")
    sink.ended(p, p.end("f", FAILED))  # type: ignore[arg-type]
    assert out.getvalue().startswith("  [1/4] done    neck=GeM s0  val/top1=81.25  epochs=10 (")
    assert (
        "| 1/4 trials" in out.getvalue()
        and "best neck=GeM (val/top1=81.25, 1 seed)" in out.getvalue()
    )
    assert err.getvalue().strip() == "[2/4] FAILED  neck=Bad s1: ValueError: no"


def test_summary_counts_and_best() -> None:
    p = progress_with(("neck=GeM", FINISHED, 80.0), ("neck=GAP", FAILED, None))
    assert re.fullmatch(
        r"2/4 trials  eta \d+:\d\d  1 finished, 1 failed  best neck=GeM \(val/top1=80, 1 seed\)",
        summary(p),
    ), summary(p)


def test_live_view_shows_running_trials_by_their_choices() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    view = LiveView(Screen(out, io.StringIO()))
    p = progress_with(("neck=GeM", FINISHED, 80.0))
    p.running["r"] = TrialLine("neck=GAP s1", "neck=GAP", epoch=3, value=71.5)
    with view:
        view.changed(p)
        view.ended(p, p.ended[0])
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue())
    assert "neck=GAP s1" in text and "3/10" in text and "71.5" in text
    assert "1/4 trials" in text and "best neck=GeM" in text
    assert "[1/4] done    neck=GeM s0" in text


def test_paused_trials_are_counted_not_listed_and_do_not_read_as_resumed() -> None:
    from types import SimpleNamespace

    from ablate.run import progress
    from ablate.run.progress import ProgressSink, progress_callback

    p = SweepProgress("necks", "val/top1", "max", total=3, epochs=9)
    cb = progress_callback(p, lambda config: (f"lr={config['lr']}", "0"), ProgressSink())
    trials = [
        SimpleNamespace(trial_id=str(i), config={"lr": i}, status="RUNNING") for i in range(3)
    ]
    progress.first_result.clear()
    for t in trials:
        cb.on_trial_start(0, trials, t)
        assert progress.first_result.is_set() == (t is not trials[0])  # the report may warm
        cb.on_trial_result(0, trials, t, {"epoch": 1, "val/top1": 50.0 + int(t.trial_id)})
    trials[0].status = trials[1].status = "PAUSED"
    cb.on_step_end(0, trials)
    assert [t.waiting for t in p.running.values()] == [True, True, False]

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    view = LiveView(Screen(out, io.StringIO()))
    with view:
        view.changed(p)
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue())
    assert "lr=2 s0" in text and "lr=0 s0" not in text
    assert "2 paused, waiting for their rung's verdict" in text
    # it goes on from its checkpoint: the epochs up to it come again, marked restored
    trials[0].status = "RUNNING"
    cb.on_step_end(0, trials)
    cb.on_trial_result(0, trials, trials[0], {"epoch": 1, "ablate_restored": 1.0})
    cb.on_trial_result(0, trials, trials[0], {"epoch": 2, "val/top1": 60.0})
    line = p.running["0"]
    assert not line.waiting and line.paused and line.resumed_at == 0


def test_quiet_sends_other_output_to_the_log_and_keeps_ablates(tmp_path: Path) -> None:
    # A real process: file descriptors 1 and 2, a child process, warnings and logging.
    code = f"""
import logging, subprocess, sys, warnings
from pathlib import Path
from ablate.console.screen import quiet
with quiet(Path({str(tmp_path / "run.log")!r})) as screen:
    screen.say("ablate says")
    print("a library prints")
    warnings.warn("a library warns")
    logging.getLogger("ray").warning("ray logs")
    subprocess.run(["echo", "a child process prints"])
    screen.warn("ablate warns")
print("after: ablate's table")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert done.stdout.splitlines() == ["ablate says", "after: ablate's table"]
    assert done.stderr.splitlines() == ["ablate warns"]
    log = (tmp_path / "run.log").read_text()
    for foreign in ("a library prints", "a library warns", "ray logs", "a child process prints"):
        assert foreign in log


def test_quiet_without_file_descriptors_moves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with quiet(tmp_path / "x.log") as screen:
        screen.say("hello")
    assert "hello" in capsys.readouterr().out


def test_checkpoints_on_a_time_cadence_and_always_the_last_epoch() -> None:
    c = Cadence(epochs=5, every_s=3600)
    assert [c.due({"epoch": e}) for e in (1, 2, 3, 4, 5)] == [False] * 4 + [True]
    every = Cadence(epochs=5, every_s=0)
    assert all(every.due({"epoch": e}) for e in (1, 2, 3, 4, 5))


class _Stream(io.StringIO):
    """A stream that notes a write begun inside another write on the same thread (what a
    buffered file refuses with "reentrant call"); its first write delivers a Ctrl-C."""

    def __init__(self) -> None:
        super().__init__()
        self.depth: dict[int, int] = {}  # thread -> writes it is inside
        self.reentered = False
        self.armed = True

    def write(self, text: str) -> int:
        me = threading.get_ident()
        self.depth[me] = self.depth.get(me, 0) + 1
        self.reentered |= self.depth[me] > 1
        try:
            if self.armed:
                self.armed = False
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # the handler runs here, inside this write
            return super().write(text)
        finally:
            self.depth[me] -= 1


def test_ctrl_c_inside_a_print_is_said_from_another_thread() -> None:
    """A Ctrl-C that lands while the driver prints an ended trial must not print from the
    handler: on a real file that raises inside Tune's callback, and fails the trial."""
    from ablate.run.progress import progress_callback

    stream = _Stream()
    tune_calls: list[int] = []
    previous = signal.getsignal(signal.SIGINT)

    def tune_handler(sig: int, frame: object) -> None:  # Tune's: restores the one it found
        tune_calls.append(sig)
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, tune_handler)
    try:
        p = SweepProgress("necks", "val/top1", "max", total=2, epochs=1)
        callback = progress_callback(
            p, lambda config: ("neck=GeM", "0"), PlainLines(Screen(stream, stream))
        )
        callback.setup()
        stream.write("an ended trial's line\n")
        p.said()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert tune_calls == [signal.SIGINT]
    assert p.interrupted
    assert not stream.reentered
    assert "Ctrl-C: stopping the trials" in stream.getvalue()


def test_a_ctrl_c_while_the_runs_are_marked_is_held_and_the_next_one_raises() -> None:
    from ablate.app.sweep import MARKING, _one_more_ctrl_c

    stream = io.StringIO()
    before = signal.getsignal(signal.SIGINT)
    marked = []
    with pytest.raises(KeyboardInterrupt), _one_more_ctrl_c(Screen(stream, stream)):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        marked.append("on")  # the first Ctrl-C did not stop the marking
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        marked.append("never")
    assert marked == ["on"]
    assert signal.getsignal(signal.SIGINT) is before
    deadline = time.monotonic() + 2
    while MARKING not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == MARKING + "\n"
