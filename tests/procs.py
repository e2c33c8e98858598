"""Reading this machine's processes from ``/proc``, for tests of the processes ablate starts
(Ray's agents and their stand-ins)."""

from __future__ import annotations

import time
from pathlib import Path


def ppid(p: Path) -> int:
    """The parent of process directory ``p`` (``-1`` once it is gone)."""
    try:
        return int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def cmdline(p: Path) -> list[str]:
    """The command line of process directory ``p`` (empty once it is gone)."""
    try:
        return (p / "cmdline").read_text().split("\0")
    except OSError:
        return []


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def child_commands(pid: int) -> list[tuple[int, list[str]]]:
    """``pid``'s children now: (pid, command line) each."""
    return [
        (int(p.name), cmdline(p))
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and ppid(p) == pid
    ]


def children(pid: int, marker: str, timeout: float = 5) -> list[int]:
    """``pid``'s children whose command line holds ``marker``, once there is one (or none
    after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [c for c, cmd in child_commands(pid) if marker in " ".join(cmd)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
