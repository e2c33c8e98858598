"""The sweep lease on a real (SQLite) MLflow store: one holder at a time, a dead holder's
lease broken at once, a live one's never."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ablate.tracking import open_store
from ablate.tracking.lease import BEAT, PID, TTL_S, Lease, SweepBusy

pytestmark = pytest.mark.integration  # a real MLflow store (SQLite), no server


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One store for the module (creating one costs seconds); each test its own sweep."""
    return open_store(f"sqlite:///{tmp_path_factory.mktemp('lease') / 'mlflow.db'}")


@pytest.fixture
def store(shared, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    shared.sweep = f"s{abs(hash(request.node.name)) % 10**8}"
    return shared


def lease(store, tmp_path: Path, storage: str = "a", what: str = "ablate run A") -> Lease:  # type: ignore[no-untyped-def]
    return Lease(store, store.sweep, what, tmp_path / storage / store.sweep / "LOCK")


def test_a_second_driver_is_refused_naming_the_first(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = lease(store, tmp_path).acquire()
    first.name_run("abc123")
    # Another storage root: only the tracking store can tell.
    with pytest.raises(SweepBusy) as err:
        lease(store, tmp_path, "b", "ablate run B").acquire()
    text = str(err.value)
    assert f"sweep '{store.sweep}' is being run by 'ablate run A'" in text
    assert "parent run abc123" in text and "\n" not in text
    first.release()
    lease(store, tmp_path, "b").acquire().release()  # free again


def test_the_same_storage_is_refused_by_its_lock(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = lease(store, tmp_path).acquire()
    with pytest.raises(SweepBusy, match="being run by 'ablate run A'"):
        lease(store, tmp_path).acquire()
    first.release()


def _orphan(store, tmp_path: Path, storage: str, **tags: str) -> None:  # type: ignore[no-untyped-def]
    """A lease whose holder died without releasing it (its lock dropped with it)."""
    held = lease(store, tmp_path, storage, "ablate run dead").acquire()
    held._stop.set()  # no more heartbeats
    for key, value in tags.items():
        store.client.set_experiment_tag(held.experiment_id, key, value)
    held._drop_lock()
    held.experiment_id = None  # as if killed: nothing released


@pytest.mark.parametrize(
    ("storage", "tags"),
    [
        ("a", {}),  # same storage and host: the free lock proves it dead
        ("x", {PID: "999999999"}),  # other storage, same host: its process is gone
        ("x", {BEAT: f"{time.time() - TTL_S - 1:.3f}", PID: "1"}),  # silent too long
    ],
    ids=["lock-free", "pid-gone", "heartbeat-lapsed"],
)
def test_a_dead_holders_lease_is_broken(store, tmp_path: Path, storage: str, tags) -> None:  # type: ignore[no-untyped-def]
    _orphan(store, tmp_path, storage, **tags)
    taken = lease(store, tmp_path, "a", "ablate run new").acquire()
    assert taken.experiment_id is not None
    taken.release()


def test_a_live_holder_in_another_process_keeps_it(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code = f"""
import sys, time
from ablate.tracking import open_store
from ablate.tracking.lease import Lease
from pathlib import Path
lease = Lease(open_store({store.uri!r}), {store.sweep!r}, "ablate run other", Path({str(tmp_path / "o" / "LOCK")!r}))
lease.acquire()
print("held", flush=True)
time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(SweepBusy, match="ablate run other"):
            lease(store, tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()
    # Killed without releasing: its process is gone, so the lease is broken at once.
    lease(store, tmp_path).acquire().release()
