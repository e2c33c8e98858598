"""The stand-in for Ray's dashboard agent (:mod:`ablate.run.quiet_agent`) and the raylet
command that names it (:func:`ablate.run.session._with_quiet_agent`): pure logic and one
real child process, no Ray."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procs import alive, children

from ablate.run import quiet_agent
from ablate.run.session import _AGENT_FLAG, _with_quiet_agent

AGENT_ARGS = [
    "/usr/bin/python3",
    "/site/ray/dashboard/agent.py",
    "--node-id=abc123",
    "--node-ip-address=127.0.0.1",
    "--session-dir=/tmp/ray/session_x",
    "--gcs-address=127.0.0.1:6379",
]


def _raylet(agent: list[str]) -> list[str]:
    return ["raylet", "--node_id=abc123", _AGENT_FLAG + subprocess.list2cmdline(agent), "--head"]


@pytest.mark.parametrize(
    ("agent", "replaced"),
    [
        (AGENT_ARGS, True),
        # Without the session directory or the node, the stand-in could not write the
        # ports where the raylet looks: Ray's own agent stays.
        ([a for a in AGENT_ARGS if not a.startswith("--session-dir=")], False),
        ([a for a in AGENT_ARGS if not a.startswith("--node-id=")], False),
    ],
)
def test_the_raylet_gets_the_stand_in_only_with_what_it_needs(
    agent: list[str], replaced: bool
) -> None:
    before = _raylet(agent)
    after = _with_quiet_agent(before)
    assert [a for a in after if not a.startswith(_AGENT_FLAG)] == [
        a for a in before if not a.startswith(_AGENT_FLAG)
    ]  # the raylet's own arguments as they were, in order
    (flag,) = [a for a in after if a.startswith(_AGENT_FLAG)]
    command = shlex.split(flag[len(_AGENT_FLAG) :])
    if not replaced:
        assert command == agent
        return
    assert command == [
        sys.executable,
        "-S",  # no site: a Python start and nothing more
        quiet_agent.__file__,
        "--node-id=abc123",
        "--session-dir=/tmp/ray/session_x",
    ]


def test_the_stand_in_writes_unused_ports_and_ends_with_its_parent(tmp_path: Path) -> None:
    # Its parent here is a shell that waits a moment, as a raylet would live on.
    # RAY_RAYLET_PID names the parent, as the raylet does: a shell gone before the
    # stand-in looks counts as gone.
    script = (
        f"RAY_RAYLET_PID=$$ {shlex.quote(sys.executable)} -S {shlex.quote(quiet_agent.__file__)} "
        f"--session-dir={shlex.quote(str(tmp_path))} --node-id=n1 & sleep 1.5"
    )
    parent = subprocess.Popen(["sh", "-c", script])
    deadline = time.monotonic() + 10
    files = [tmp_path / f"{name}_n1" for name in quiet_agent.PORT_NAMES]
    while not all(f.exists() for f in files) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [f.read_text() for f in files] == ["-1"] * 3  # Ray's "not in use"
    assert not list(tmp_path.glob("*.tmp"))  # each written whole, then renamed
    (agent,) = children(parent.pid, "quiet_agent")
    parent.wait(10)
    while alive(agent) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(agent), "the stand-in outlived its parent"


def test_the_stand_in_imports_neither_ablate_nor_ray() -> None:
    text = Path(quiet_agent.__file__).read_text()
    imports = {line.split()[1] for line in text.splitlines() if line.startswith("import ")}
    assert imports <= {"os", "sys", "time"}, imports
    assert "from ablate" not in text and "from ray" not in text
