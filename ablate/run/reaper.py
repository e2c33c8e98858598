"""Ray Train's leftover placement groups, removed by the sweep's driver instead of an actor
per ``fit()``.

Ray removes a placement group when both the actor and the job that created it are dead
(ray-project/ray#65881). A Ray Train controller creates its workers' group, so when Tune ends
a Ray Train trial (an ASHA stop, a trial timeout, a failure) the group would stay reserved
until the sweep's driver exits, and the next trials could not be placed. Ray Train guards
against that with a detached ``PlacementGroupCleaner`` actor that it starts with every
``fit()``: one more Python process per trial (ray-project/ray#65443 reports 600 MB each), and
the reason the trial needs Ray's state API, which is served by a process of its own.

On a local Ray of ablate's own (:data:`MARK_ENV` in its workers' environment) the trials
go without that actor (:func:`train_callbacks`) and the driver does its job while the sweep
runs (:func:`reaping`): once a second it reads the placement group table from the GCS and
removes each group, not detached, whose creator was an actor that has died.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

#: ``0`` keeps Ray Train's own cleaner on a local Ray (for A/B runs).
REAPER_ENV = "ABLATE_PG_REAPER"
#: In a trial's environment: the driver removes what a dead controller leaves, so the trial's
#: Ray Train runs start no ``PlacementGroupCleaner``. Only a local Ray of ablate's own sets
#: it, in its raylet's environment: a cluster's trials keep Ray's cleaner.
MARK_ENV = "_ABLATE_DRIVER_REAPS"
#: Seconds between the driver's reads of the placement group table.
INTERVAL_S = 1.0


def enabled() -> bool:
    """Whether a local Ray of ablate's own reaps (unless :data:`REAPER_ENV` is ``0``, which
    keeps Ray Train's cleaner, and with it Ray's state API)."""
    return os.environ.get(REAPER_ENV, "1") != "0"


def train_callbacks(callbacks: list[Any]) -> list[Any]:
    """Ray Train's default controller callbacks, less its placement group cleaner where the
    driver reaps (:data:`MARK_ENV` in this trial's environment)."""
    if os.environ.get(MARK_ENV) != "1":
        return callbacks
    from ray.train.v2._internal.callbacks.placement_group_callback import (
        PlacementGroupCleanerCallback,
    )

    return [cb for cb in callbacks if not isinstance(cb, PlacementGroupCleanerCallback)]


def orphans(table: list[bytes], job_id: bytes) -> list[bytes]:
    """The ids of this job's placement groups whose creator actor is dead, from the GCS's
    serialized ``PlacementGroupTableData`` entries. A group the driver made (Tune's, one per
    trial) has no creator actor and is never one of them; nor is a detached group."""
    from ray.core.generated.gcs_pb2 import PlacementGroupTableData  # type: ignore[attr-defined]

    out = []
    for raw in table:
        pg = PlacementGroupTableData.FromString(raw)
        if (
            pg.state != PlacementGroupTableData.REMOVED
            and pg.creator_job_id == job_id
            and not pg.is_detached
            and _is_actor(pg.creator_actor_id)
            and pg.creator_actor_dead
        ):
            out.append(pg.placement_group_id)
    return out


def _is_actor(actor_id: bytes) -> bool:
    """Whether a creator actor id names an actor (a driver's is empty or Ray's nil id)."""
    return bool(actor_id) and actor_id != b"\xff" * len(actor_id)


def reap_once() -> int:
    """Remove this job's orphaned placement groups now; how many."""
    import ray
    from ray._private.state import state
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    accessor = state._connect_and_get_accessor()  # what ray.util.placement_group_table reads
    job_id = ray.get_runtime_context().get_job_id()
    removed = 0
    for pg_id in orphans(accessor.get_placement_group_table(), bytes.fromhex(job_id)):
        with contextlib.suppress(Exception):  # removed meanwhile, by Ray Train or Ray
            remove_placement_group(PlacementGroup(PlacementGroupID(pg_id)))
            removed += 1
    return removed


@contextlib.contextmanager
def reaping(active: bool, interval: float = INTERVAL_S) -> Iterator[None]:
    """While the block runs, remove orphaned placement groups every ``interval`` seconds
    (in a daemon thread), if ``active``; once more as it ends."""
    if not active:
        yield
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):  # Ray shutting down under the thread
                reap_once()

    thread = threading.Thread(target=loop, name="ablate-pg-reaper", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(interval + 1.0)
        with contextlib.suppress(Exception):  # what trials Tune ended last left behind
            reap_once()


__all__ = [
    "INTERVAL_S",
    "MARK_ENV",
    "REAPER_ENV",
    "enabled",
    "orphans",
    "reap_once",
    "reaping",
    "train_callbacks",
]
