"""``ablate run``'s dry builds in a child process, forked as soon as the plan is checked.

The dry builds (:func:`ablate.train.check.check_builds`) import torch and the components and
build every distinct model combination: about 1.5 s of CPU before a sweep may start. In the
driver they shared one interpreter lock with MLflow's import and ``ray.init``, one after
another, while the machine's other cores waited for Ray's processes. A child forked before
any of that builds on another core meanwhile, and the driver, which needs nothing of torch
itself, need not import it (it still does when the static check imports a plugin package
that does; BENCHMARKS.md, the probe's launch).

What the child finds comes back whole: the user's mistakes (:class:`AblateError`, every
line of an :class:`AblateErrors`) and the metric's mode, which the build resolves. Anything
else (a bug of ours or a component's, a child that died) leaves the driver to build
in-process, as before, so that a traceback is the one the build would have raised there.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import threading
from dataclasses import dataclass, replace
from typing import Any

from ablate.errors import AblateError
from ablate.plan import SweepPlan

#: ``0``: build in the driver, for A/B runs and for a debugger.
FORK_ENV = "ABLATE_FORK_BUILDS"


@dataclass
class _Outcome:
    ok: bool
    mode: str | None = None
    error: AblateError | None = None


@dataclass
class Prebuild:
    """A forked :func:`~ablate.train.check.check_builds` of ``plan``; :meth:`result` waits."""

    plan: SweepPlan
    pid: int = 0
    fd: int = -1

    @classmethod
    def start(cls, plan: SweepPlan) -> Prebuild:
        """Fork the builds off, where that is safe: ``fork`` exists, this process runs one
        Python thread (a fork copies only the caller, and a lock another thread held would
        stay held), the plan asks for no GPU and CUDA is not initialised (CUDA does not
        survive a fork). Otherwise :meth:`result` builds in-process.

        Native threads are not counted: at this point they are the pools of libraries
        imported with the config (OpenBLAS's, jemalloc's background thread) that reset
        themselves in a forked child, as every ``fork`` start of ``multiprocessing`` relies
        on."""
        self = cls(plan)
        if os.environ.get(FORK_ENV, "1") == "0" or plan.resources.use_gpu:
            return self
        if not hasattr(os, "fork") or threading.active_count() != 1 or _cuda_initialized():
            return self
        for stream in (sys.stdout, sys.stderr):  # or the child could write them again
            if stream is not None:
                stream.flush()
        read, write = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: build, answer, and leave without the parent's exit work
            os.close(read)
            _child(plan, write, parent)
        os.close(write)
        self.pid, self.fd = pid, read
        return self

    def result(self) -> None:
        """Raise what the builds found, and resolve the plan's mode as they did."""
        outcome = self._wait()
        if outcome is None:  # not forked, or the child had no answer: build here
            from ablate.train.check import check_builds

            check_builds(self.plan)
            return
        if outcome.error is not None:
            raise outcome.error
        if outcome.mode is not None:
            self.plan.tune = replace(self.plan.tune, mode=outcome.mode)  # type: ignore[arg-type]

    def cancel(self) -> None:
        """End the child if it still builds (the command is ending without its answer)."""
        self._kill()
        self._reap()

    def _wait(self) -> _Outcome | None:
        if not self.pid:
            return None
        fd, self.fd = self.fd, -1
        try:
            with os.fdopen(fd, "rb") as f:
                data = _read_answer(f)
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): the child goes too
            self._kill()
            raise
        finally:
            self._reap()
        try:
            outcome = pickle.loads(data) if data else None
        except Exception:  # cut short: the child died mid-answer
            return None
        return outcome if isinstance(outcome, _Outcome) and outcome.ok else None

    def _kill(self) -> None:
        if self.pid:
            import signal

            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _reap(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
        pid, self.pid = self.pid, 0
        if pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _cuda_initialized() -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.cuda.is_initialized())


def _read_answer(f: Any) -> bytes:
    """The child's answer: its length, then that many bytes. Not the pipe to its end: a
    process the build forked in turn (a component's pool) would hold the pipe open."""
    head = f.read(8)
    if len(head) < 8:
        return b""
    data: bytes = f.read(int.from_bytes(head, "big"))
    return data


def _child(plan: SweepPlan, fd: int, parent: int) -> None:
    code = 0
    try:
        _die_with_parent(parent)
        try:
            answer = pickle.dumps(_build(plan))
        except Exception:  # an error that does not pickle: the parent raises it itself
            answer = pickle.dumps(_Outcome(ok=False))
        with os.fdopen(fd, "wb") as f:
            f.write(len(answer).to_bytes(8, "big") + answer)
    except BaseException:  # the parent builds again, and shows it as it happens there
        code = 1
    finally:
        os._exit(code)


def _build(plan: SweepPlan) -> _Outcome:
    from ablate.train.check import check_builds

    try:
        check_builds(plan)
    except AblateError as err:
        return _Outcome(ok=True, error=err)
    except Exception:
        return _Outcome(ok=False)
    return _Outcome(ok=True, mode=plan.tune.mode)


def _die_with_parent(parent: int) -> None:
    """The child ends with the driver (``PR_SET_PDEATHSIG``), so a killed driver leaves
    no builder behind."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    libc: Any = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent was gone before the call
        os._exit(1)


__all__ = ["FORK_ENV", "Prebuild"]
