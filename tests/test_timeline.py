"""``ABLATE_TIMELINE``: where a command's time goes, one line per step."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ablate import timeline


def test_steps_are_appended_with_time_and_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "timeline.jsonl"
    monkeypatch.setenv(timeline.ENV, str(path))
    timeline.mark("plan checked")
    timeline.mark("ray up")
    marks = timeline.read(str(path))
    assert [m["step"] for m in marks] == ["plan checked", "ray up"]
    assert {m["pid"] for m in marks} == {os.getpid()}
    assert marks[0]["t"] <= marks[1]["t"]
    assert 0 < marks[0]["cpu"] <= marks[1]["cpu"]


def test_without_the_variable_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(timeline.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    timeline.mark("plan checked")
    assert list(tmp_path.iterdir()) == []
