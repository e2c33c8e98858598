"""Ray Client: run a function on the cluster's head node and stream its output back here.

``ablate run --address ray://`` runs the whole driver (Tune and the tracker) on the head:
Ray Client would run Tune's driver on the cluster anyway, and running ablate's there too
keeps the tracker, Tune's experiment state and the resume check on the same side. What to
run is the caller's (the use case); this module only carries it there and its output back.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from typing import Any, TypeVar

from ablate.errors import ExitCode
from ablate.run.session import connect, enable_token_auth

T = TypeVar("T")


class _QueueWriter(io.TextIOBase):
    """A text stream that hands each line to a Ray queue as ``(stream, line)`` (and keeps a
    copy in the worker's log).

    Lines starting with ``hide`` stay in the log only (a path on the head that means
    nothing here); ``{tmp}`` in it is the head's temporary directory.
    """

    def __init__(self, queue: Any, stream: str, hide: str = "\0") -> None:
        self.queue, self.stream, self.buf = queue, stream, ""
        self.hide = hide.replace("{tmp}", tempfile.gettempdir())
        self.echo = sys.__stdout__ if stream == "out" else sys.__stderr__

    def write(self, text: str) -> int:
        if self.echo is not None:
            self.echo.write(text)
        self.buf += text
        *lines, self.buf = self.buf.split("\n")
        shown = [(self.stream, ln) for ln in lines if not ln.startswith(self.hide)]
        if shown:
            self.queue.put_nowait_batch(shown)
        return len(text)

    def flush(self) -> None:
        if self.echo is not None:
            self.echo.flush()
        if self.buf:
            self.queue.put_nowait((self.stream, self.buf))
            self.buf = ""


def _streamed(fn: Callable[..., int], args: tuple[Any, ...], queue: Any, hide: str) -> int:
    """A Ray task on the head node: ``fn(*args)`` with its output going to ``queue``."""
    out, err = _QueueWriter(queue, "out", hide), _QueueWriter(queue, "err")
    try:
        with redirect_stdout(out), redirect_stderr(err):
            return fn(*args)
    finally:
        out.flush()
        err.flush()


def run_on_head(
    address: str,
    runtime_env: dict[str, Any],
    fn: Callable[..., int],
    *args: Any,
    hide: str = "\0",
) -> int:
    """Connect through Ray Client (uploading ``runtime_env``), run ``fn(*args)`` on the
    head node, print its output here as it comes, and return its exit code.

    ``fn`` must be importable on the cluster (a module-level function of shipped code).
    Ctrl-C here cancels it there (it sees KeyboardInterrupt) and re-raises.
    """
    enable_token_auth()
    connect(address, runtime_env=runtime_env)  # uploads what ships

    import ray
    from ray.util.queue import Empty, Queue
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    head = ray.get_runtime_context().get_node_id()  # Ray Client's server runs on the head
    queue = Queue(actor_options={"num_cpus": 0})
    task = ray.remote(num_cpus=0, max_retries=0)(_streamed).options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(head, soft=False)
    )
    ref = task.remote(fn, args, queue, hide)

    def drain() -> None:
        try:
            lines = queue.get_nowait_batch(queue.qsize())
        except Empty:
            return
        for stream, line in lines:
            print(line, file=sys.stdout if stream == "out" else sys.stderr, flush=True)

    code: int = ExitCode.INTERRUPTED
    try:
        while not ray.wait([ref], timeout=0.5)[0]:
            drain()
        code = int(ray.get(ref))
    except KeyboardInterrupt:
        ray.cancel(ref)  # KeyboardInterrupt in the task: the tracker ends its runs KILLED
        with contextlib.suppress(KeyboardInterrupt):
            ray.wait([ref], timeout=30)
        raise
    finally:
        drain()
    return code


__all__ = ["run_on_head"]
