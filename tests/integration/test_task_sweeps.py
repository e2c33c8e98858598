"""The shipped task sweeps run end to end, trimmed by command-line overrides: the command the
README gives, on a real local Ray, with their own metrics on val and test in the store and
the report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cli_runner import ROOT, Ran, together

pytestmark = pytest.mark.integration

# sweep -> (overrides that trim it to seconds, trials it runs, the metrics it must report,
# the one it selects on first)
TRIMMED = {
    "box_regression": (
        ["search.seeds=[0]", "train.epochs=1", "data.dataset.num_train=64",
         "data.dataset.num_val=16", "data.dataset.num_test=16"],
        4,
        ["success_auc", "iou"],
    ),
    "diabetes_regression": (["search.seeds=[0]", "train.epochs=2"], 6, ["mse", "r2", "mae"]),
    "retrieval_losses": (["search.seeds=[0]", "train.epochs=1"], 3, ["mAP", "rank1", "rank5"]),
}  # fmt: skip


@pytest.fixture(scope="module")
def ran_all(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Ran, Path]]:
    """The three sweeps at once, each its own ``ablate run`` and local Ray."""
    where = {name: tmp_path_factory.mktemp(name) for name in TRIMMED}
    runs = {
        name: (("run", str(ROOT / "search_spaces" / f"{name}.yaml"), *over), where[name])
        for name, (over, _, _) in TRIMMED.items()
    }
    return {name: (ran, where[name]) for name, ran in together(runs).items()}


@pytest.mark.parametrize("name", TRIMMED)
def test_shipped_task_sweep_runs(name: str, ran_all: dict[str, tuple[Ran, Path]]) -> None:
    _, trials, names = TRIMMED[name]
    assert f"ablate run search_spaces/{name}.yaml" in (ROOT / "README.md").read_text()
    ran, where = ran_all[name]
    assert ran.code == 0, ran.err[-3000:]
    assert f"{trials} of {trials} trials finished" in ran.out
    results = pd.read_csv(where / "reports" / name / "results.csv")
    for split in ("val", "test"):
        for metric in names:
            column = next((c for c in results.columns if c.startswith(f"{split}/{metric}")), None)
            assert column is not None, f"{split}/{metric} not in {list(results.columns)}"
            assert results[column].notna().all()
    report = (where / "reports" / name / "report.md").read_text()
    assert f"`val/{names[0]}`" in report  # the selection metric heads the report
