"""ablate.heap: no automatic full collections while a command starts, a frozen heap after."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ablate import heap


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    was = gc.isenabled()
    yield
    heap.settle()
    gc.unfreeze()
    (gc.enable if was else gc.disable)()


def test_paused_turns_collection_off_until_settled_then_freezes_what_it_made() -> None:
    gc.enable()
    gc.unfreeze()
    with heap.paused():
        assert not gc.isenabled()
        made = [object() for _ in range(1000)]
        heap.settle()  # e.g. Tune's start, inside the command
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(made)
        heap.settle()  # idempotent
        assert gc.isenabled()
    assert gc.isenabled()


def test_paused_settles_on_the_way_out_even_on_an_error() -> None:
    gc.enable()
    gc.unfreeze()
    with pytest.raises(RuntimeError), heap.paused():
        raise RuntimeError("the dry build failed")
    assert gc.isenabled() and gc.get_freeze_count() > 0


def test_paused_leaves_a_collector_that_was_off_alone() -> None:
    gc.disable()
    gc.unfreeze()
    with heap.paused():
        pass
    assert not gc.isenabled() and gc.get_freeze_count() == 0


def test_a_workers_pause_freezes_nothing_its_trial_makes() -> None:
    gc.enable()
    gc.unfreeze()
    with heap.paused(freeze=False):
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_warm_up_imports_leave_collection_on_and_nothing_frozen() -> None:
    from ablate.run import warm

    gc.enable()
    gc.unfreeze()
    assert warm.warm(("json", "no_such_module_for_ablate")) == ["no_such_module_for_ablate"]
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_frozen_thaws_only_what_it_froze() -> None:
    gc.unfreeze()
    with heap.frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # nothing was frozen before: thawed again
    gc.freeze()  # a settled command's heap
    before = gc.get_freeze_count()
    with heap.frozen():
        pass
    assert gc.get_freeze_count() >= before  # freezing does not nest: left frozen
