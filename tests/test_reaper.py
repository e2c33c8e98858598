"""Which placement groups the driver removes (ablate.run.reaper), from the GCS's table rows,
and the switches that keep Ray Train's own actors."""

from __future__ import annotations

from typing import Any

import pytest
from ray.core.generated.gcs_pb2 import PlacementGroupTableData

from ablate.run import controller, reaper

JOB, OTHER_JOB = b"\x01\x00\x00\x00", b"\x02\x00\x00\x00"
ACTOR = bytes(range(16))
NIL_ACTOR = b"\xff" * 16


def _row(**fields: object) -> bytes:
    values = {
        "placement_group_id": b"pg",
        "state": PlacementGroupTableData.CREATED,
        "creator_job_id": JOB,
        "creator_actor_id": ACTOR,
        "creator_actor_dead": True,
        "is_detached": False,
        **fields,
    }
    return PlacementGroupTableData(**values).SerializeToString()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "reaped"),
    [
        ({}, True),  # a controller's, the controller killed
        ({"state": PlacementGroupTableData.PENDING}, True),  # still being placed
        ({"creator_actor_dead": False}, False),  # its controller lives
        ({"state": PlacementGroupTableData.REMOVED}, False),  # Ray Train removed it
        ({"creator_actor_id": NIL_ACTOR}, False),  # the driver's (Tune's per trial)
        ({"creator_actor_id": b""}, False),
        ({"is_detached": True}, False),  # outlives its creator on purpose
        ({"creator_job_id": OTHER_JOB}, False),  # another job's
    ],
)
def test_only_this_jobs_groups_of_dead_actors_are_reaped(
    fields: dict[str, object], reaped: bool
) -> None:
    assert reaper.orphans([_row(**fields)], JOB) == ([b"pg"] if reaped else [])


@pytest.mark.parametrize("switch", [reaper, controller], ids=["reaper", "controller"])
@pytest.mark.parametrize(("value", "on"), [(None, True), ("1", True), ("0", False)])
def test_a_user_can_keep_ray_trains_own_actors(
    monkeypatch: pytest.MonkeyPatch, switch: Any, value: str | None, on: bool
) -> None:
    """``0`` keeps Ray's cleaner or controller actor, as ``ABLATE_WARM_WORKERS=0`` does."""
    var = switch.REAPER_ENV if switch is reaper else switch.IN_TRIAL_ENV
    if value is None:
        monkeypatch.delenv(var, raising=False)
    else:
        monkeypatch.setenv(var, value)
    assert switch.enabled() is on


def test_the_cleaner_callback_goes_only_where_the_driver_reaps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ray.train.v2._internal.callbacks.placement_group_callback import (
        PlacementGroupCleanerCallback,
    )

    callbacks = [PlacementGroupCleanerCallback(), object()]
    monkeypatch.setenv(reaper.MARK_ENV, "1")
    assert reaper.train_callbacks(callbacks) == callbacks[1:]
    for value in ("0", None):  # a user's 0, or a cluster's trial (no mark)
        if value is None:
            monkeypatch.delenv(reaper.MARK_ENV)
        else:
            monkeypatch.setenv(reaper.MARK_ENV, value)
        assert reaper.train_callbacks(callbacks) == callbacks
