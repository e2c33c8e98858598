"""Every shipped sweep file plans cleanly: valid settings, every model combination builds,
the metric is reported. A new or edited file in search_spaces/ that breaks fails here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ablate.cli import main

SPACES = sorted((Path(__file__).resolve().parents[1] / "search_spaces").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Dry builds on 2-sample batches gain nothing from threads on 2 shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_there_are_search_spaces() -> None:
    assert len(SPACES) >= 5


@pytest.mark.parametrize("path", SPACES, ids=[p.stem for p in SPACES])
def test_plan_passes(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    assert f"sweep '{path.stem}'" in out  # the file's name: matches its stem
    assert "model combinations built on a sample batch" in out
    assert "ERROR" not in out
    if path.stem == "cifar10_resnet_gpu" and not torch.cuda.is_available():
        # A GPU sweep plans on a CPU machine: it does not fit here, which is a note.
        assert "does not fit on this machine" in out and "4 GPU" in out
        if not Path("/data/cifar10").exists():
            assert "models were built on a synthetic (3, 32, 32) batch" in out
