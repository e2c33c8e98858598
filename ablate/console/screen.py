"""Only ablate's own words on the terminal: while a sweep runs, everything else (Ray's and
Tune's banners, TensorBoard hints, token notices, Python warnings, whatever a trial process
prints) goes to a log file in the sweep's directory, named once on the console. Should the
process die without a word (Ray's core ends it), :mod:`.watch` says so in one line."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ablate.console.watch import Watcher


@dataclass
class Screen:
    """The terminal as ablate writes to it: ``out`` and ``err`` are the real stdout and
    stderr, whatever the process's file descriptors point at now."""

    out: IO[str]
    err: IO[str]
    log: Path | None = None

    @property
    def live(self) -> bool:
        """A terminal a person watches (a live view), not CI or a log file (plain lines)."""
        return self.out.isatty() and os.environ.get("TERM", "") != "dumb"

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def warn(self, text: str) -> None:
        print(text, file=self.err, flush=True)


def plain_screen() -> Screen:
    return Screen(sys.stdout, sys.stderr)


@contextmanager
def quiet(log: Path) -> Iterator[Screen]:
    """Point file descriptors 1 and 2 (so every child process Ray starts, and C++ logs) and
    Python's ``sys.stdout``/``sys.stderr``, warnings and log records at ``log``; yield the
    terminal as a :class:`Screen`. Everything comes back on leaving.

    Where stdout has no file descriptor (a caller capturing it in memory), nothing moves.
    """
    try:
        fds = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield plain_screen()
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in fds]
    term_out = os.fdopen(os.dup(saved[0]), "w", buffering=1, encoding="utf-8")
    term_err = os.fdopen(os.dup(saved[1]), "w", buffering=1, encoding="utf-8")
    sink = open(log, "a", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    for fd in fds:
        os.dup2(sink.fileno(), fd)
    streams, show = (sys.stdout, sys.stderr), warnings.showwarning
    sys.stdout = sys.stderr = sink
    warnings.showwarning = _to(sink)
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    # Ray's core may end this process with a line to fd 2 only: a watcher tells the terminal.
    watcher = Watcher(log, saved[1])
    try:
        yield Screen(term_out, term_err, log)
    finally:
        watcher.done()
        logging.getLogger().removeHandler(handler)
        warnings.showwarning = show
        sys.stdout, sys.stderr = streams
        sink.flush()
        for fd, old in zip(fds, saved):
            os.dup2(old, fd)
            os.close(old)
        term_out.close()
        term_err.close()
        sink.close()


def _to(stream: IO[str]) -> Any:
    def show(message: Any, category: Any, filename: str, lineno: int, *_: Any, **__: Any) -> None:
        stream.write(warnings.formatwarning(message, category, filename, lineno))

    return show


__all__ = ["Screen", "plain_screen", "quiet"]
