"""Seed-aware ASHA on a real local Ray: a cell's seeds are promoted or stopped as one group."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_runner import ablate, write

pytestmark = pytest.mark.integration


def test_asha_stops_a_cells_seeds_together(tmp_path: Path, tiny_base: Path) -> None:
    # Two cells x two seeds, 2 trials at a time in plan order: the good cell's group is
    # complete at the first rung before the bad one's arrives, so the bad one is judged
    # against it. lr 1e-6 barely moves from the initialisation.
    sweep = write(
        tmp_path,
        "sweep.yaml",
        """
        name: groups
        _base_: base.yaml
        search:
          optimizer.lr: [0.1, 1.0e-6]
          seeds: [0, 1]
        train: {epochs: 3}
        tune: {scheduler: asha, asha: {grace_period: 1, reduction_factor: 2}}
        """,
    )
    ran = ablate("run", str(sweep), cwd=tmp_path, timeout=300)
    assert ran.code == 0, ran.err[-3000:]

    from ablate.tracking import open_store
    from ablate.tracking.read import load_sweep

    store = open_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    t = load_sweep(store, "groups").trials
    t = t.assign(lr=t["param.optimizer.lr"].astype(float))
    # epochs each trial reached, from its logged history (stopped trials' too)
    history = store.client.get_metric_history
    t["epochs"] = [max(m.step for m in history(r, "val/top1")) for r in t["run_id"]]
    by_cell = t.groupby("lr")["epochs"].apply(sorted).to_dict()
    assert set(by_cell) == {0.1, 1e-6} and all(len(v) == 2 for v in by_cell.values()), t
    # the good group ran every epoch; the weak one was judged as a group: its seeds were
    # stopped together once both had reached the rung, or promoted because one had already
    # finished. Without pausing trials a seed two epochs ahead of its twin can still finish
    # before the judgement lands (docs/statistics.md), so the weak cell may end 1 and 3.
    assert by_cell[0.1] == [3, 3], by_cell
    low = by_cell[1e-6]
    stopped = re.findall(r"\] stopped +optimizer\.lr=(\S+) s\d", ran.out)
    assert set(stopped) <= {"1e-06"}, ran.out
    assert len(stopped) == sum(e < 3 for e in low) and min(low) >= 1, (by_cell, ran.out)
