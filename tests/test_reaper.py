"""Which placement groups the driver removes (ablate.run.reaper), from the GCS's table rows."""

from __future__ import annotations

import pytest
from ray.core.generated.gcs_pb2 import PlacementGroupTableData

from ablate.run import reaper

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


@pytest.mark.parametrize(
    ("value", "enabled"),
    [(None, True), ("1", True), ("0", False), ("false", False), ("off", False), ("no", False)],
)
def test_a_user_can_keep_ray_trains_cleaner(
    monkeypatch: pytest.MonkeyPatch, value: str | None, enabled: bool
) -> None:
    if value is None:
        monkeypatch.delenv(reaper.REAPER_ENV, raising=False)
    else:
        monkeypatch.setenv(reaper.REAPER_ENV, value)
    assert reaper.enabled() is enabled


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
