"""Ray's C++ core ends the process while its output goes to the log: the terminal still gets
one line. A real local Ray inside ablate's quiet terminal; its GCS is killed, and the core
worker gives up after a (shortened) reconnect timeout with ``_exit(1)``, as it does for a
user after 60 s."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_runner import end, spawn

pytestmark = pytest.mark.integration

DRIVER = """
import os, signal, sys, time
from pathlib import Path

import ray

from ablate.console.screen import quiet

with quiet(Path(sys.argv[1])) as screen:
    ray.init(address="local", num_cpus=1, include_dashboard=False)
    screen.say("ray is up")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\\0")[0]
        except OSError:
            continue
        if cmd.endswith(b"gcs_server"):  # alone in this PID namespace: our Ray's
            os.kill(int(proc.name), signal.SIGKILL)
    time.sleep(120)  # the core worker ends the process long before
    screen.say("still here")
"""

#: PID 1 of the test's PID namespace: a namespace ends when its PID 1 does, and the driver's
#: watcher outlives the driver by a moment, so PID 1 reaps orphans for a few seconds (Ray's
#: own processes may take far longer to notice their GCS is gone: the kernel ends them).
INIT = """
import os, subprocess, sys, time
code = subprocess.call(sys.argv[1:])
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    try:
        if os.waitpid(-1, os.WNOHANG) == (0, 0):
            time.sleep(0.05)
    except ChildProcessError:
        break
sys.exit(code)
"""


@pytest.mark.timeout(240)
def test_a_core_failure_is_one_line_on_the_terminal(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "sweep.log"
    env = {"RAY_gcs_rpc_server_reconnect_timeout_s": "3", "RAY_USAGE_STATS_ENABLED": "0"}
    proc = spawn(
        [sys.executable, "-c", INIT, sys.executable, "-c", textwrap.dedent(DRIVER), str(log)],
        cwd=tmp_path,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=200)
    finally:
        end(proc, grace=5)
    assert proc.returncode == 1, (out, err)
    assert out == "ray is up\n", (out, err)
    assert err.splitlines() == [
        "error: Ray's core ended ablate: Failed to connect to GCS within 3 seconds "
        "(rpc_client.h:204); the log: logs/sweep.log"
    ], err
    assert "Failed to connect to GCS" in log.read_text()
