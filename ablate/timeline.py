"""Where a command's time goes: with ``ABLATE_TIMELINE=<file>``, the driver and each trial
append one JSON line per step to that file (wall-clock time, the process and the CPU
seconds it has used so far, step).

Off by default, and then one environment lookup per step. The trials see the variable
through the local Ray they inherit it from. ``bench/bench_probe.py`` reads the file to split
launch -> first trial training into its steps.
"""

from __future__ import annotations

import json
import os
import time

ENV = "ABLATE_TIMELINE"


def mark(step: str) -> None:
    """Append ``step`` with the time, this process's id and its CPU time (all threads), if a
    timeline is asked for."""
    path = os.environ.get(ENV)
    if not path:
        return
    cpu = round(time.process_time(), 3)
    line = json.dumps({"t": round(time.time(), 4), "pid": os.getpid(), "cpu": cpu, "step": step})
    with open(path, "a", encoding="utf-8") as f:  # one short O_APPEND write per line
        f.write(line + "\n")


def read(path: str) -> list[dict[str, object]]:
    """The marks in ``path``, in the order they were written."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
