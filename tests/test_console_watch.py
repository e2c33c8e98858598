"""The line the terminal gets when Ray's core ends the command while its output goes to the
log: the cause read off the log (pure), and the watcher process for real (a child that
enters the quiet terminal, writes what Ray's core writes and ``_exit``s as it does)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ablate.console.watch import cause, died_line

GCS = (
    "[2026-12-01 11:40:06,371 E 9459 10879] rpc_client.h:204: Failed to connect to GCS within "
    "60 seconds. GCS may have been killed. It's either GCS is terminated by `ray stop` or is "
    "killed unexpectedly. The program will terminate."
)
RAYLET = (
    "[2026-12-01 12:00:01,002 C 77 78] core_worker.cc:1234: The raylet died unexpectedly. "
    "The driver will exit."
)
NOISE = "[2026-12-01 11:40:05,174 W 9459 11696] retryable_grpc_client.cc:85: GCS unavailable"

CASES = {
    "gcs timeout": (
        f"{NOISE}\n{GCS}\n",
        "Failed to connect to GCS within 60 seconds (rpc_client.h:204)",
    ),
    "fatal wins over a later error": (
        f"{RAYLET}\n{GCS}\n",
        "The raylet died unexpectedly (core_worker.cc:1234)",
    ),
    "failed check": (
        "trial output\nsome.cc:12: Check failed: x != nullptr  the thing\n*** SIGABRT received at "
        "time=1\n",
        "*** SIGABRT received at time=1",
    ),
    "fatal python error": (
        "Fatal Python error: Segmentation fault\n",
        "Fatal Python error: Segmentation fault",
    ),
    "nothing said": ("Tune banner\nwarning: something\n", None),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_cause_is_read_off_the_log(case: str) -> None:
    tail, want = CASES[case]
    assert cause(tail) == want


def test_the_line_names_the_cause_and_the_log() -> None:
    line = died_line(GCS, ".ablate/ray/s/logs/1.log")
    assert line == (
        "error: Ray's core ended ablate: Failed to connect to GCS within 60 seconds "
        "(rpc_client.h:204); the log: .ablate/ray/s/logs/1.log"
    )
    quiet = died_line("", "x.log")
    assert "ended abruptly" in quiet and quiet.endswith("its log: x.log")
    assert "\n" not in line + quiet


CHILD = """
import os, sys, time
from pathlib import Path
from ablate.console.screen import quiet

with quiet(Path(sys.argv[1])) as screen:
    screen.say("own words")
    print("a banner", flush=True)
    if sys.argv[2] == "die":
        os.write(2, sys.argv[3].encode() + b"\\n")
        os._exit(1)  # what Ray's core does after logging it
print("after", flush=True)
"""


def _child(tmp_path: Path, how: str) -> subprocess.CompletedProcess[str]:
    log = tmp_path / "logs" / "run.log"
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(log), how, GCS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_process_that_dies_in_the_quiet_terminal_gets_one_line(tmp_path: Path) -> None:
    ran = _child(tmp_path, "die")
    assert ran.returncode == 1
    assert ran.stdout == "own words\n"
    assert ran.stderr.splitlines() == [
        "error: Ray's core ended ablate: Failed to connect to GCS within 60 seconds "
        "(rpc_client.h:204); the log: logs/run.log"
    ]
    log = (tmp_path / "logs" / "run.log").read_text()
    assert "a banner" in log and GCS in log  # the whole of it stays in the log


def test_a_process_that_ends_normally_gets_no_line(tmp_path: Path) -> None:
    ran = _child(tmp_path, "live")
    assert ran.returncode == 0
    assert ran.stdout == "own words\nafter\n"
    assert ran.stderr == ""


def test_the_readme_shows_the_line_as_it_is_printed() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (shown,) = [ln for ln in readme.splitlines() if ln.startswith("error: Ray's core ended")]
    log = shown.rsplit("the log: ", 1)[1]
    assert shown == died_line(GCS, log)
