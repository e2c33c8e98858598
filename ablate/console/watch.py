"""One line on the terminal when the command dies without a word.

While a sweep runs, file descriptor 2 points at the sweep's log file (:mod:`.screen`), and
Ray's C++ core ends the process itself on some failures: "Failed to connect to GCS within
60 seconds", a raylet that died. It logs why and calls ``_exit(1)``: no Python code runs
after it, so the person at the terminal would see nothing but exit code 1, which reads like
"some trials failed". A tiny watcher process, started with the terminal as its stderr,
waits on a pipe only this process writes to. A command that leaves the quiet terminal
normally says so first; one that dies makes the pipe end without it, and the watcher reads
the cause off the log's tail and prints it as one line.

Only the standard library here: the watcher runs this file as a script (``python -I -S
watch.py``), without importing ablate, so it starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

#: What the command writes to the pipe when it leaves the quiet terminal on its own.
CLEAN = b"ok"
#: How much of the log's end is read for the cause.
TAIL_BYTES = 64 * 1024

#: A line of Ray's C++ log: ``[2026-12-01 11:40:06,371 E 9459 10879] rpc_client.h:204: ...``
#: (levels: E error, C critical, i.e. fatal).
_RAY_LINE = re.compile(r"^\[[\d-]+ [\d:,.]+ ([EC]) \d+ \d+\] (\S+?): (.+)$")
#: Other last words of a dying process: a failed check, a fatal Python error, a signal.
_LAST_WORDS = re.compile(r"(Check failed: .+|Fatal Python error: .+|\*\*\* SIG[A-Z]+ received.*)")


def _sentence(text: str, limit: int = 160) -> str:
    """The message's first sentence, at most ``limit`` characters."""
    first = re.split(r"(?<=[^.\d])\. ", text.strip(), maxsplit=1)[0].rstrip(".")
    return first if len(first) <= limit else first[: limit - 3] + "..."


def cause(tail: str) -> str | None:
    """The reason a process gave as it died, from the end of its log, or None.

    A fatal line of Ray's core wins over a failed check or a signal, which win over the
    last error line.
    """
    fatal = error = last_words = None
    for line in tail.splitlines():
        m = _RAY_LINE.match(line.strip())
        if m:
            found = f"{_sentence(m.group(3))} ({m.group(2)})"
            if m.group(1) == "C":
                fatal = found
            else:
                error = found
        w = _LAST_WORDS.search(line)
        if w:
            last_words = _sentence(w.group(1))
    return fatal or last_words or error


def shown(log: Path) -> str:
    """The log's path as the console names it: relative to the working directory if in it."""
    try:
        return str(log.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(log)


def died_line(tail: str, log: str) -> str:
    """The one line for a command that ended without leaving its quiet terminal."""
    why = cause(tail)
    if why is None:
        return f"error: ablate ended abruptly (killed, or Ray's core failed); its log: {log}"
    return f"error: Ray's core ended ablate: {why}; the log: {log}"


def _read_tail(log: Path) -> str:
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


class Watcher:
    """The watcher of this process; :meth:`done` when leaving the quiet terminal."""

    def __init__(self, log: Path, terminal_err: int) -> None:
        read, self._write = os.pipe()
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-I", "-S", __file__, str(read), str(log), shown(log)],
                pass_fds=(read,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=terminal_err,
            )
        except OSError:  # no watcher: the command runs, only unwatched
            self._proc = None
        finally:
            os.close(read)

    def done(self) -> None:
        """This command leaves the quiet terminal on its own: nothing to say."""
        try:
            with contextlib.suppress(OSError):  # no watcher, or it died: nobody reads
                os.write(self._write, CLEAN)
        finally:
            os.close(self._write)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()


def _watch(fd: int, log: Path, name: str) -> None:
    # Ctrl-C reaches the whole foreground group; the command handles it and says so.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    said = b""
    while chunk := os.read(fd, 64):
        said += chunk
    if said != CLEAN:
        sys.stderr.write(died_line(_read_tail(log), name) + "\n")


if __name__ == "__main__":
    _watch(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
