"""A checkpoint carries every epoch's metrics so far, and a trial restored from it reports
them all again: a driver killed while the tracking store was down never sent them, and the
checkpoint is then the only place left that has them (the chaos benchmark's epoch gaps)."""

from __future__ import annotations

import copy
from typing import Any

from train_helpers import tiny

from ablate.train.loop import Runtime, StateFn, train


class Recorder(Runtime):
    """Keeps every report and the state each offers; restores the one it is given."""

    def __init__(self, restore_from: dict[str, Any] | None = None) -> None:
        self.reports: list[dict[str, float]] = []
        self.states: list[dict[str, Any]] = []
        self.restore_from = restore_from

    def restore(self) -> dict[str, Any] | None:
        return copy.deepcopy(self.restore_from)

    def report(self, metrics: dict[str, float], images: Any, state: StateFn) -> None:
        self.reports.append(dict(metrics))
        self.states.append(copy.deepcopy(state()))


def test_a_checkpoint_holds_every_epoch_so_far() -> None:
    rec = Recorder()
    train(tiny(epochs=3), rec)
    assert [len(s["history"]) for s in rec.states] == [1, 2, 3]
    assert [m["epoch"] for m in rec.states[-1]["history"]] == [1.0, 2.0, 3.0]
    assert rec.states[-1]["history"][-1] == rec.states[-1]["metrics"]


def test_a_restored_trial_reports_every_epoch_up_to_its_checkpoint_again() -> None:
    whole = Recorder()
    train(tiny(epochs=3), whole)
    resumed = Recorder(restore_from=whole.states[1])  # killed after epoch 2's checkpoint
    train(tiny(epochs=3), resumed)
    assert [(r["epoch"], "ablate_restored" in r) for r in resumed.reports] == [
        (1.0, True),
        (2.0, True),
        (3.0, False),
    ]
    timing = "time/train_epoch_s"
    same = [
        {k: v for k, v in r.items() if k not in (timing, "ablate_restored")}
        for r in resumed.reports
    ]
    assert same[:2] == [{k: v for k, v in r.items() if k != timing} for r in whole.reports[:2]]
    # The new checkpoint's history runs on from the restored one.
    assert [m["epoch"] for m in resumed.states[-1]["history"]] == [1.0, 2.0, 3.0]


def test_a_checkpoint_from_before_histories_reports_its_own_epoch() -> None:
    whole = Recorder()
    train(tiny(epochs=2), whole)
    old = copy.deepcopy(whole.states[0])
    del old["history"]
    resumed = Recorder(restore_from=old)
    train(tiny(epochs=2), resumed)
    assert [(r["epoch"], "ablate_restored" in r) for r in resumed.reports] == [
        (1.0, True),
        (2.0, False),
    ]
