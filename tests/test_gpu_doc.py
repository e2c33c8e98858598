"""docs/gpu.md's plans are real: each ``<!-- plan: ARGS -->`` block is run as ``ablate plan
ARGS`` from the repo root, and every line of the block must be a line of its output."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import torch
from doc_project import doc_pattern, parse_markers

from ablate.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "gpu.md"
pytestmark = pytest.mark.usefixtures("one_thread")
PLANS = [(arg, block) for kind, arg, block in parse_markers(DOC, ["plan"]) if block]


def test_the_doc_shows_the_plans_the_issue_asks_for() -> None:
    assert len(PLANS) == 3
    text = "".join(block for _, block in PLANS)
    assert "holding 1 GPU: no worker group" in text and "4 trials share each GPU" in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="the doc shows a machine without GPUs")
@pytest.mark.parametrize(("args", "expected"), PLANS, ids=[a for a, _ in PLANS])
def test_plan_output_in_the_doc(
    args: str,
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(ROOT)
    argv = shlex.split(args)
    # One override may hold spaces (a YAML mapping): everything after a k=v with a '{' joins it.
    code = main(["plan", *_join_flow(argv)])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    for want in expected.splitlines():
        pattern = doc_pattern(want)
        assert any(pattern.fullmatch(line) for line in lines), f"{want!r} not in:\n{out}"


def _join_flow(argv: list[str]) -> list[str]:
    out: list[str] = []
    for word in argv:
        if out and out[-1].count("{") > out[-1].count("}"):
            out[-1] += " " + word
        else:
            out.append(word)
    return out
