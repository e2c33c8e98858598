"""A stand-in for Ray's dashboard agent on a local Ray that nothing asks it of.

The raylet starts ``ray/dashboard/agent.py`` as it starts, and registers its node only once
the agent has written the ports of its metrics and HTTP services. The real agent imports
Ray and its seven modules first (metrics, events, jobs, logs, health): about 0.9 s of CPU
on the critical path of every ``ray.init``. On a local Ray started without the dashboard and
its API server (:func:`ablate.run.session._without_cluster_helpers`) nothing reads any of
it, so this script writes ``-1`` for each port, which is what Ray's own minimal install
writes for services it has not got, and then lives as long as the raylet does: the raylet
ends its agents as it stops, and like the real agent (``ray/_private/process_watcher.py``)
this one also ends once its parent is gone.

It runs as ``python -S quiet_agent.py --session-dir=... --node-id=...`` (the two of the
real agent's arguments it needs) and imports nothing of ablate's or Ray's: it must cost a
Python start and no more. What the real agent does besides, it does not: one thing lost
is the last lines of ``raylet.out`` that the real agent sends the driver when the raylet
dies unexpectedly (they stay in the run's log directory).
"""

from __future__ import annotations

import os
import sys
import time

#: The port files the real dashboard agent writes (``ray._raylet``'s port names).
PORT_NAMES = ("metrics_agent_port", "metrics_export_port", "dashboard_agent_listen_port")
#: How often it looks for its parent.
POLL_S = 0.5


def _arg(argv: list[str], name: str) -> str:
    prefix = f"--{name}="
    for a in argv:
        if a.startswith(prefix):
            return a[len(prefix) :]
    raise SystemExit(f"quiet_agent: {prefix}... missing")


def write_ports(session_dir: str, node_id: str) -> None:
    """``-1`` in each port file, each written whole before it appears (a rename)."""
    for name in PORT_NAMES:
        path = os.path.join(session_dir, f"{name}_{node_id}")
        with open(f"{path}.tmp", "w") as f:
            f.write("-1")
        os.replace(f"{path}.tmp", path)


def main(argv: list[str]) -> int:
    node_id = os.environ.get("RAY_NODE_ID") or _arg(argv, "node-id")
    # The raylet, as Ray names it to its agents; a parent that is gone already (or was
    # never it) ends this at once rather than never.
    parent = int(os.environ.get("RAY_RAYLET_PID") or os.getppid())
    write_ports(_arg(argv, "session-dir"), node_id)
    while os.getppid() == parent:  # reparented once the raylet is gone
        time.sleep(POLL_S)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
