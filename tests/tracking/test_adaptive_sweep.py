"""A real adaptive-seeds sweep on a real local Ray, tracked in SQLite: seeds go only to the
undecided cells, and MLflow nests sweep -> cell -> seed trial with the cells' verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest
from tracking_helpers import tiny_sweep

from ablate.cli import main
from ablate.tracking import open_store

pytestmark = pytest.mark.integration

ADAPTIVE = """
name: {name}
_base_: base.yaml
search:
  optimizer.lr: [0.05, 0.06, 1.0e-5]
  seeds: {seeds}
tune: {{max_concurrent: 2, baseline: {{optimizer.lr: 0.05}}, min_effect: 40.0}}
"""


def test_adaptive_seeds_run_in_rounds_nested_in_cell_runs(
    tmp_path: Path, no_ray_leak: None, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tiny_sweep(tmp_path, "adaptive", "{adaptive: {min: 2, max: 3}}", ADAPTIVE)
    assert main(["run", str(sweep)]) == 0
    rounds = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("round: ")]
    assert rounds[0].startswith("round: 1 of 2 looks: ")
    assert rounds[-1].endswith(("(every verdict decided)", "(max seeds reached)"))
    store = open_store()
    exp = store.client.get_experiment_by_name("adaptive").experiment_id
    trials = store.client.search_runs([exp], "tags.`ablate.role` = 'trial'")
    cells = store.client.search_runs([exp], "tags.`ablate.role` = 'cell'")
    assert len(cells) == 3
    seeds = {c.info.run_id: [] for c in cells}  # type: dict[str, list[int]]
    for r in trials:  # nested: every trial under its cell's run
        seeds[r.data.tags["mlflow.parentRunId"]].append(int(r.data.tags["ablate.seed"]))
    verdicts = {}
    for c in cells:
        got = sorted(seeds[c.info.run_id])
        assert got in ([0, 1], [0, 1, 2])  # only the first seeds, in order
        assert c.data.metrics["val/top1/n"] == len(got)
        verdicts[c.data.params["optimizer.lr"]] = (c.data.tags["ablate.verdict"], len(got))
    assert verdicts["0.05"][0] == "reference"
    # a cell decided at the first look got no third seed; an undecided one did, and so did
    # the reference, which every open comparison needs
    for lr, (verdict, n) in verdicts.items():
        assert verdict in ("reference", "better", "worse", "equivalent", "undecided"), lr
        if verdict == "undecided":
            assert n == 3 and verdicts["0.05"][1] == 3
    md = (tmp_path / "reports" / "adaptive" / "report.md").read_text()
    assert "repeated CI" in md
