"""Ray's runtime env agent started when first asked (:mod:`ablate.run.lazy_env_agent`) and
the raylet command that names it (:func:`ablate.run.session._with_lazy_env_agent`): pure
logic and real child processes, no Ray (the integration tests run it under a real raylet)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procs import alive, children

from ablate.run import lazy_env_agent
from ablate.run.session import _ENV_AGENT_FLAG, _with_lazy_env_agent

AGENT = [
    sys.executable,
    "-u",
    "/site/ray/_private/runtime_env/agent/main.py",
    "--node-id=abc123",
    "--node-ip-address=127.0.0.1",
    "--runtime-env-agent-port=0",
    "--session-dir=/tmp/ray/session_x",
    "--gcs-address=127.0.0.1:6379",
]

#: Stands in for Ray's real agent: takes the port it is given, as the real one does
#: (``SO_REUSEADDR``), and says what it was started with.
FAKE_AGENT = """
import json, os, socket, sys
port = int(next(a for a in sys.argv if a.startswith("--runtime-env-agent-port=")).split("=")[1])
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", port))
with open(os.environ["FAKE_AGENT_OUT"], "w") as f:
    json.dump({"argv": sys.argv[1:], "pid": os.getpid(), "port": port}, f)
"""


def _raylet(agent: list[str]) -> list[str]:
    return ["raylet", "--node_id=abc123", _ENV_AGENT_FLAG + subprocess.list2cmdline(agent)]


@pytest.mark.parametrize(
    ("drop", "replaced"),
    [
        (None, True),
        # An executable it could not exec as given (os.execv looks nothing up).
        ("exe:python3", False),
        ("exe:/no/such/python", False),
        # Without any of these the stand-in could not listen where the raylet looks, or
        # write the port where it reads it: Ray's own agent stays.
        ("--node-id=", False),
        ("--node-ip-address=", False),
        ("--session-dir=", False),
        ("--runtime-env-agent-port=", False),
    ],
)
def test_the_raylet_gets_the_lazy_agent_only_with_what_it_needs(
    drop: str | None, replaced: bool
) -> None:
    if drop is not None and drop.startswith("exe:"):
        agent = [drop[len("exe:") :], *AGENT[1:]]
    else:
        agent = [a for a in AGENT if drop is None or not a.startswith(drop)]
    before = _raylet(agent)
    after = _with_lazy_env_agent(before)
    assert after[:2] == before[:2]  # the raylet's own arguments as they were
    command = shlex.split(after[2][len(_ENV_AGENT_FLAG) :])
    if not replaced:
        assert command == agent
        return
    # The real agent's command follows, whole: it is what the stand-in becomes.
    # -I: nothing of the working directory or ablate/run shadows what it imports.
    assert command == [sys.executable, "-I", "-S", lazy_env_agent.__file__, *agent]


def test_a_raylet_without_an_env_agent_flag_is_left_alone() -> None:
    command = ["raylet", "--node_id=abc123", "--head"]
    assert _with_lazy_env_agent(command) == command


def test_with_port_names_the_port_it_listened_on() -> None:
    assert lazy_env_agent.with_port(AGENT, 41234) == [
        *AGENT[:5],
        "--runtime-env-agent-port=41234",
        *AGENT[6:],
    ]


def _start(tmp_path: Path, parent_lives_s: float) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """The stand-in under a shell that lives ``parent_lives_s``, as a raylet would, with
    :data:`FAKE_AGENT` as the real agent."""
    fake = tmp_path / "fake_agent.py"
    fake.write_text(FAKE_AGENT)
    out = tmp_path / "started.json"
    real = [
        sys.executable,
        str(fake),
        "--node-id=n1",
        "--node-ip-address=127.0.0.1",
        "--runtime-env-agent-port=0",
        f"--session-dir={tmp_path}",
    ]
    stub = [sys.executable, "-I", "-S", lazy_env_agent.__file__, *real]
    script = f"RAY_RAYLET_PID=$$ FAKE_AGENT_OUT={shlex.quote(str(out))} {shlex.join(stub)} & sleep {parent_lives_s}"
    # A group of its own: what the test leaves (the shell's sleep) is ended with it.
    shell = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    return shell, tmp_path / "runtime_env_agent_port_n1", out


def _end_group(shell: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(shell.pid, signal.SIGKILL)
    shell.wait(10)


def _wait_for(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.read_text()


def test_the_first_connection_turns_it_into_the_real_agent_on_its_port(tmp_path: Path) -> None:
    parent, port_file, out = _start(tmp_path, parent_lives_s=10)
    try:
        port = int(_wait_for(port_file))
        assert port > 0  # a real port, unlike the dashboard agent's stand-in
        assert not list(tmp_path.glob("*.tmp"))  # written whole, then renamed
        (stand_in,) = children(parent.pid, "lazy_env_agent")
        assert not out.exists()  # nobody asked yet: the real agent has not started
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        started = json.loads(_wait_for(out))
        # The same process (the raylet watches the agent by its pid), now the real agent,
        # given the port the raylet already read, which it could take.
        assert started["pid"] == stand_in
        assert started["port"] == port
        assert f"--runtime-env-agent-port={port}" in started["argv"]
        assert f"--session-dir={tmp_path}" in started["argv"]
    finally:
        _end_group(parent)


def test_asked_nothing_it_ends_with_its_parent(tmp_path: Path) -> None:
    parent, port_file, out = _start(tmp_path, parent_lives_s=60)
    _wait_for(port_file)
    (stand_in,) = children(parent.pid, "lazy_env_agent")
    try:
        parent.kill()  # the raylet gone: the stand-in is reparented
        parent.wait(10)
        deadline = time.monotonic() + 10
        while alive(stand_in) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(stand_in), "the stand-in outlived its parent"
        assert not out.exists()
    finally:
        _end_group(parent)


def test_the_stand_in_imports_neither_ablate_nor_ray() -> None:
    text = Path(lazy_env_agent.__file__).read_text()
    imports = {line.split()[1] for line in text.splitlines() if line.startswith("import ")}
    assert imports <= {"os", "select", "socket", "sys"}, imports
    assert "from ablate" not in text and "from ray" not in text
