"""Seed-aware ASHA on a real local Ray: a cell's seeds are promoted or stopped as one group."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_runner import ablate, write

pytestmark = pytest.mark.integration


def test_asha_stops_a_cells_seeds_together(tmp_path: Path, tiny_base: Path) -> None:
    # Two cells x two seeds, 2 trials at a time in plan order; rungs at epochs 1 and 2, one
    # cell goes on from each. The good cell's seeds reach epoch 1 first and wait (paused)
    # for the weak cell's; then the weak cell stops, both seeds at once, and the good
    # cell's seeds go on from their epoch-1 checkpoints. lr 1e-6 barely moves from the
    # initialisation.
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
    # the epochs each trial logged, from its history (stopped trials' too)
    history = store.client.get_metric_history
    t["steps"] = [sorted(m.step for m in history(r, "val/top1")) for r in t["run_id"]]
    by_cell = t.groupby("lr")["steps"].apply(list).to_dict()
    assert set(by_cell) == {0.1, 1e-6} and all(len(v) == 2 for v in by_cell.values()), t
    # the good cell trained every epoch once: paused at the rungs, it went on from the
    # checkpoint it wrote there, and trained no epoch twice
    assert by_cell[0.1] == [[1, 2, 3], [1, 2, 3]], by_cell
    # the weak cell was judged as a group, on both seeds, and both stopped at the rung
    assert by_cell[1e-6] == [[1], [1]], by_cell
    stopped = re.findall(r"\] stopped +optimizer\.lr=(\S+) s\d", ran.out)
    assert sorted(stopped) == ["1e-06", "1e-06"], ran.out

    # A seed added later: the incremental run skips the 4 ended trials, reads from MLflow
    # where each stopped, and judges the new seeds with them: the good cell's goes on to
    # the end, the weak cell's stops at the rung where its cell stopped.
    more = write(tmp_path, "more.yaml", sweep.read_text().replace("[0, 1]", "[0, 1, 2]"))
    ran = ablate("run", str(more), cwd=tmp_path, timeout=300)
    assert ran.code == 0, ran.err[-3000:]
    assert "skipping 4 of 6 trials" in ran.out, ran.out
    t = load_sweep(store, "groups").trials
    new = t[t["seed"].astype(int) == 2].assign(lr=lambda d: d["param.optimizer.lr"].astype(float))
    steps = {
        lr: max(m.step for m in history(r, "val/top1")) for lr, r in zip(new["lr"], new["run_id"])
    }
    assert steps == {0.1: 3, 1e-6: 1}, steps
