"""Ray's runtime env agent, started only once the raylet first asks it something.

The raylet starts ``ray/_private/runtime_env/agent/main.py`` as it starts, and waits for the
port it listens on before it registers its node. The real agent imports Ray, aiohttp and
its plugins first: about 0.6 s of CPU, and the raylet's registration waits for it. Yet the
raylet asks it something only for a task or actor with a runtime env of its own; a sweep
of inline trials on a local Ray has none (its workers' environment is the raylet's,
:func:`ablate.run.session._init_local`).

So this script takes the agent's place: it listens on the agent's port, writes it where the
raylet reads it, and waits. The first connection to it means the raylet wants a runtime
env: it closes the port (that connection is reset) and becomes the real agent (``exec``, the
same process to the raylet that watches it), which listens on the same port. The raylet
retries a reset or refused request every second for up to 30 s, and the real agent is up
within a second or two. Until then it lives as long as the raylet, and like the real agent
it ends once its parent is gone.

The port is nobody's between the close and the real agent's ``bind`` (its imports, a second
or two): a process binding port 0 just then could be given it, and the real agent, failing
to bind, would take the raylet down. Ray's agent takes no socket from its parent, so the
window stays; it opens only in a sweep that asks for a runtime env after all.

It runs as ``python -I -S lazy_env_agent.py <the real agent's command>`` and imports nothing
of ablate's or Ray's: it must cost a Python start and no more.
"""

from __future__ import annotations

import os
import select
import socket
import sys

#: The port file the real agent writes (``ray._raylet.RUNTIME_ENV_AGENT_PORT_NAME``).
PORT_NAME = "runtime_env_agent_port"
#: How often it looks for its parent while nobody connects.
POLL_S = 0.5
#: The real agent's argument naming its port, 0 for any (``ray._private.services``' name).
PORT_ARG = "runtime-env-agent-port"
#: The real agent's arguments it reads.
NEEDS = ("node-id", "node-ip-address", "session-dir", PORT_ARG)


def _arg(command: list[str], name: str) -> str:
    prefix = f"--{name}="
    for a in command:
        if a.startswith(prefix):
            return a[len(prefix) :]
    raise SystemExit(f"lazy_env_agent: {prefix}... missing")


def with_port(command: list[str], port: int) -> list[str]:
    """The real agent's ``command`` with the port this script listened on."""
    flag = f"--{PORT_ARG}="
    return [f"{flag}{port}" if a.startswith(flag) else a for a in command]


def write_port(session_dir: str, node_id: str, port: int) -> None:
    """The port file, written whole before it appears (a rename)."""
    path = os.path.join(session_dir, f"{PORT_NAME}_{node_id}")
    with open(f"{path}.tmp", "w") as f:
        f.write(str(port))
    os.replace(f"{path}.tmp", path)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket as the real agent makes one (``SO_REUSEADDR``, so that it can take
    the same port once this one is closed)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(16)
    return sock


def main(command: list[str]) -> int:
    if not command:
        raise SystemExit("lazy_env_agent: the real agent's command is missing")
    node, host, session_dir, given = (_arg(command, name) for name in NEEDS)
    node_id = os.environ.get("RAY_NODE_ID") or node
    # The raylet, as Ray names it to its agents; a parent that is gone already (or was
    # never it) ends this at once rather than never.
    parent = int(os.environ.get("RAY_RAYLET_PID") or os.getppid())
    sock = listen(host, int(given))
    port = sock.getsockname()[1]
    write_port(session_dir, node_id, port)
    waiting = select.poll()
    waiting.register(sock, select.POLLIN)
    while os.getppid() == parent:  # reparented once the raylet is gone
        if waiting.poll(POLL_S * 1000):
            # Reset, then refused until the real agent listens: the raylet tries again.
            sock.close()
            try:
                os.execv(command[0], with_port(command, port))
            except OSError as err:
                raise SystemExit(f"lazy_env_agent: cannot start {command[0]}: {err}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
