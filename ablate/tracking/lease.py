"""One driver per sweep: a lease in the tracking store.

Two ``ablate run`` (or submitted jobs) of one sweep against one store would both train
the (cell, seed) pairs neither has finished yet. The lease is an MLflow experiment named
``ablate-lease/<sweep>``: MLflow refuses a second experiment of the same name, so
creating it is an atomic test-and-set on any store (a SQL database or a server), and the
holder's tags say who holds it.

A holder that died without releasing (SIGKILL, a lost node) is recognised two ways: on
its own host (and PID namespace) by its process being gone, anywhere by a heartbeat older than
:data:`TTL_S`. Breaking a stale lease renames it out of the way first, so that of two
processes breaking it at once, one creates the new lease and the other finds it held.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ablate.errors import AblateError
from ablate.tracking.store import Store

LEASE_PREFIX = "ablate-lease/"
HOST, PID, STARTED, BEAT, WHAT, RUN = (
    "ablate.lease.host",
    "ablate.lease.pid",
    "ablate.lease.started",
    "ablate.lease.beat",
    "ablate.lease.what",
    "ablate.lease.run",
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

    @classmethod
    def of(cls, tags: Mapping[str, str]) -> Holder:
        return cls(
            tags.get(HOST, "?"),
            int(tags.get(PID, "0") or 0),
            tags.get(STARTED, ""),
            float(tags.get(BEAT, "0") or 0),
            tags.get(WHAT, "ablate run"),
            tags.get(RUN, ""),
        )

    def stale(self, now: float) -> bool:
        if self.host == _where() and self.pid and not _alive(self.pid, self.started):
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

    def __init__(self, store: Store, sweep: str, what: str) -> None:
        self.store = store
        self.client = store.client
        self.sweep = sweep
        self.name = LEASE_PREFIX + sweep
        self.what = what
        self.experiment_id: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> Lease:
        """Take the lease, breaking a stale one.

        Raises:
            SweepBusy: a live driver holds it.
        """
        for _ in range(5):
            if self._create():
                self._thread = threading.Thread(target=self._beat, daemon=True, name="lease")
                self._thread.start()
                return self
            held = self.store.call("get lease", self.client.get_experiment_by_name, self.name)
            if held is None:
                continue  # released between the two calls
            holder, now = Holder.of(held.tags), time.time()
            if not holder.stale(now):
                raise SweepBusy(
                    f"sweep '{self.sweep}' is being run by {holder.describe(now)}; two drivers "
                    "would train the same trials",
                    hint="wait for it to end, or stop it; a killed one's lease lapses "
                    f"within {TTL_S:.0f}s",
                )
            self._discard(held.experiment_id, "broken")
        raise SweepBusy(f"could not take the lease of sweep '{self.sweep}'; try again")

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
