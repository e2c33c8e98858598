"""Tune's loggers for a sweep: its JSON logger, and stand-ins that Tune takes for its CSV and
TensorBoard loggers and that write nothing (``ablate.run.loggers``)."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback
from ray.tune.utils.callback import _create_default_callbacks

from ablate.run import loggers


def test_tune_adds_no_logger_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(loggers.ENV, raising=False)
    monkeypatch.delenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", raising=False)
    given = loggers.tune_loggers()
    made = _create_default_callbacks(list(given), metric="m", mode="max")
    kinds = [c for c in made if isinstance(c, (CSVLoggerCallback, JsonLoggerCallback))]
    kinds += [c for c in made if isinstance(c, TBXLoggerCallback)]
    assert sorted(type(c).__name__ for c in kinds) == [
        "JsonLoggerCallback",
        "SkippedCSVLoggerCallback",
        "SkippedTBXLoggerCallback",
    ]
    assert all(c in given for c in kinds)  # none of Tune's own was added


def test_the_stand_ins_write_nothing_and_pickle(tmp_path: Path) -> None:
    trial = SimpleNamespace(local_path=str(tmp_path), init_local_path=lambda: None)
    for cls in (CSVLoggerCallback, TBXLoggerCallback):
        stand_in = pickle.loads(pickle.dumps(loggers.skipped(cls)))  # Tune's experiment state
        assert isinstance(stand_in, cls) and type(stand_in) is type(loggers.skipped(cls))
        stand_in.on_trial_start(0, [], trial)
        stand_in.on_trial_result(1, [], trial, {"training_iteration": 1, "m": 0.5})
        stand_in.on_trial_complete(1, [], trial)
    assert list(tmp_path.iterdir()) == []


def test_tensorboardx_is_not_imported_for_the_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "tensorboardX", raising=False)
    loggers.skipped(TBXLoggerCallback)
    assert "tensorboardX" not in sys.modules


@pytest.mark.parametrize(("value", "tunes_own"), [("1", True), ("0", False), (None, False)])
def test_the_switch_gives_tune_its_three(
    monkeypatch: pytest.MonkeyPatch, value: str | None, tunes_own: bool
) -> None:
    if value is None:
        monkeypatch.delenv(loggers.ENV, raising=False)
    else:
        monkeypatch.setenv(loggers.ENV, value)
    assert (loggers.tune_loggers() == []) is tunes_own
