"""One driver per sweep: a lease in the tracking store.

Two ``ablate run`` (or submitted jobs) of one sweep against one store would both train
the (cell, seed) pairs neither has finished yet. The lease is an MLflow experiment named
``ablate-lease/<sweep>``: MLflow refuses a second experiment of the same name, so
creating it is an atomic test-and-set on any store (a SQL database or a server), and the
holder's tags say who holds it.

Under it, each driver holds an exclusive ``flock`` on ``<storage>/<sweep>/LOCK``, which
the kernel drops when its holder dies, whatever killed it. So a holder that died without
releasing (SIGKILL, a lost node) is recognised at once when it shared this storage on this
host (its lock is free), or its process is gone (same host and PID namespace); anywhere
else by a heartbeat older than :data:`TTL_S`. Breaking a stale lease renames it out of the
way first, so that of two processes breaking it at once, one creates the new lease and the
other finds it held.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablate.errors import AblateError
from ablate.tracking.store import Store

LEASE_PREFIX = "ablate-lease/"
HOST, PID, STARTED, BEAT, WHAT, RUN, STORAGE = (
    "ablate.lease.host",
    "ablate.lease.pid",
    "ablate.lease.started",
    "ablate.lease.beat",
    "ablate.lease.what",
    "ablate.lease.run",
    "ablate.lease.storage",
)
BEAT_S, TTL_S = 10.0, 60.0


class SweepBusy(AblateError):
    """Another driver holds the sweep's lease (exit 2)."""


def _where() -> str:
    """This host and PID namespace: a pid means something only within both (a container,
    or ``unshare --pid``, numbers its processes anew)."""
    try:
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        ns = ""
    return f"{socket.gethostname()} {ns}".strip()


def _proc_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (so a reused pid is not mistaken for the holder);
    empty where /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not started or _proc_start(pid) in ("", started)


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, read from its tags."""

    host: str
    pid: int
    started: str
    beat: float
    what: str
    run: str
    storage: str

    @classmethod
    def of(cls, tags: Mapping[str, str]) -> Holder:
        return cls(
            tags.get(HOST, "?"),
            int(tags.get(PID, "0") or 0),
            tags.get(STARTED, ""),
            float(tags.get(BEAT, "0") or 0),
            tags.get(WHAT, "ablate run"),
            tags.get(RUN, ""),
            tags.get(STORAGE, ""),
        )

    def stale(self, now: float, storage: str) -> bool:
        """Dead for sure, or silent too long. ``storage``: the lock file this process
        holds, so any holder on this host that used it has died."""
        here = _where()
        if self.host.split()[0] == here.split()[0] and self.storage == storage:
            return True
        if self.host == here and self.pid and not _alive(self.pid, self.started):
            return True
        return now - self.beat > TTL_S

    def describe(self, now: float) -> str:
        run = f"parent run {self.run}, " if self.run else ""
        return (
            f"'{self.what}' ({run}pid {self.pid} on {self.host.split()[0]}, "
            f"last heard from {now - self.beat:.0f}s ago)"
        )


class Lease:
    """The lease of one sweep in one store; ``acquire`` it, ``release`` it when done.

    The heartbeat runs in a daemon thread with its own client calls; a beat that fails
    is tried again on the next one (the tracker notices a lost store itself).
    """

    def __init__(self, store: Store, sweep: str, what: str, lock: Path) -> None:
        self.store = store
        self.client = store.client
        self.sweep = sweep
        self.name = LEASE_PREFIX + sweep
        self.what = what
        self.lock = lock
        self.experiment_id: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_fd: int | None = None

    def acquire(self) -> Lease:
        """Take the storage lock, then the lease, breaking a stale one.

        Raises:
            SweepBusy: a live driver holds either.
        """
        if not self._take_lock():
            raise self._busy()
        try:
            return self._take_lease()
        except BaseException:
            self._drop_lock()
            raise

    def _take_lease(self) -> Lease:
        for _ in range(5):
            if self._create():
                self._thread = threading.Thread(target=self._beat, daemon=True, name="lease")
                self._thread.start()
                return self
            held = self.store.call("get lease", self.client.get_experiment_by_name, self.name)
            if held is None:
                continue  # released between the two calls
            if not Holder.of(held.tags).stale(time.time(), str(self.lock)):
                raise self._busy(held)
            self._discard(held.experiment_id, "broken")
        raise SweepBusy(f"could not take the lease of sweep '{self.sweep}'; try again")

    def _busy(self, held: Any = None) -> SweepBusy:
        if held is None:  # the storage lock is taken: the lease says by whom
            held = self.store.call("get lease", self.client.get_experiment_by_name, self.name)
        who = (
            Holder.of(held.tags).describe(time.time())
            if held is not None
            else f"another driver using {self.lock.parent}"
        )
        return SweepBusy(
            f"sweep '{self.sweep}' is being run by {who}; two drivers would train the same trials",
            hint=f"wait for it to end, or stop it; a killed one's lease lapses within {TTL_S:.0f}s",
        )

    def _take_lock(self) -> bool:
        import fcntl

        self.lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _drop_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    def name_run(self, run_id: str) -> None:
        """Name the holder's parent run (once it has one), for whoever finds it held."""
        assert self.experiment_id is not None
        self.store.call(
            "tag lease", self.client.set_experiment_tag, self.experiment_id, RUN, run_id
        )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.experiment_id is not None:
            self._discard(self.experiment_id, "released")
            self.experiment_id = None
        self._drop_lock()

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _tags(self) -> dict[str, str]:
        pid = os.getpid()
        return {
            HOST: _where(),
            PID: str(pid),
            STARTED: _proc_start(pid),
            BEAT: f"{time.time():.3f}",
            WHAT: self.what,
            STORAGE: str(self.lock),
        }

    def _create(self) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.experiment_id = self.store.call(
                "take lease", self.client.create_experiment, self.name, tags=self._tags()
            )
            return True
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return False

    def _discard(self, experiment_id: str, why: str) -> None:
        """Rename, then delete: a deleted experiment keeps its name in MLflow."""
        from mlflow.exceptions import MlflowException

        with contextlib.suppress(MlflowException):
            self.client.rename_experiment(experiment_id, f"{self.name}/{why}-{experiment_id}")
            self.client.delete_experiment(experiment_id)

    def _beat(self) -> None:
        while not self._stop.wait(BEAT_S):
            with contextlib.suppress(Exception):  # a store that is down: beat again later
                self.client.set_experiment_tag(self.experiment_id, BEAT, f"{time.time():.3f}")


__all__ = ["LEASE_PREFIX", "TTL_S", "Holder", "Lease", "SweepBusy"]
