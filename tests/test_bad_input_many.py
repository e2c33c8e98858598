"""A config holding several mistakes gets all of them in one exit-2 answer, before anything
runs: one stderr line per mistake, then the summary ``N problems; nothing ran``.

The pattern of ``tests/test_bad_input.py``: one table; each row writes files into the test's
empty working directory and runs ``ablate.cli.main(argv)`` in-process. ``expected`` holds
one list of fragments per problem line, in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from ablate.cli import main
from ablate.errors import EXIT_USER_ERROR, close_match

BASE = """\
model:
  type: ImageClassifier
  backbone: {type: ResNet_CIFAR, depth: 18, in_channels: 1, base_channels: 4, num_stages: 2, strides: [1, 2], out_indices: [1]}
  neck: {type: GlobalAveragePooling}
  head: {type: LinearClsHead, num_classes: 10, topk: [1]}
data:
  dataset: {type: Digits, limit: 16}
  batch_size: 8
optimizer: {type: SGD, lr: 0.05}
train: {epochs: 2, num_threads: 1}
"""
SEARCH = "search:\n  model.neck: [{type: GlobalAveragePooling}, {type: GeneralizedMeanPooling}]\n"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Row(NamedTuple):
    body: str
    argv: list[str]
    expected: list[list[str]]


def plan(*extra: str) -> list[str]:
    return ["plan", "sweep.yaml", *extra]


def train() -> list[str]:
    return ["train", "sweep.yaml"]


ROWS: dict[str, Row] = {
    # The case: the shape error alone used to hide the misspelt argument.
    "misspelt-head-arg-and-bad-channels": Row(
        "model:\n  backbone: {in_channels: 3}\n  head: {num_clases: 10}\n" + SEARCH,
        plan(),
        [
            ["sweep.yaml: model.head.num_clases", "did you mean 'num_classes'?"],
            ["[neck=GlobalAveragePooling]", "model.backbone", "3 channels"],
            ["[neck=GeneralizedMeanPooling]", "model.backbone", "3 channels"],
        ],
    ),
    "unknown-type-arg-value-optimizer": Row(
        "model:\n  backbone: {type: ResNet_CFAR}\n  neck: {type: GlobalAveragePooling, dimm: 2}\n"
        "  head: {topk: one}\noptimizer: {type: Adamw}\n",
        train(),
        [
            [
                "sweep.yaml: model.backbone.type",
                "unknown backbone type 'ResNet_CFAR'",
                "ResNet_CIFAR",
            ],
            ["sweep.yaml: model.neck.dimm", "unknown argument 'dimm'", "did you mean 'dim'?"],
            ["sweep.yaml: model.head.topk", "expected int | Sequence[int]", "'one'"],
            ["sweep.yaml: optimizer.type", "did you mean 'AdamW'?"],
        ],
    ),
    "a-typo-inside-a-searched-choice-and-in-train": Row(
        "train: {epochs: two}\nsearch:\n  model.neck:\n    - {type: GlobalAveragePooling}\n"
        "    - {type: GeneralizedMeanPooling, pp: 3}\n",
        plan(),
        [
            ["sweep.yaml: train.epochs", "expected int"],
            ["sweep.yaml: search.model.neck.1.pp", "did you mean 'p'?"],
        ],
    ),
    "bad-search-dims-and-a-misspelt-arg": Row(
        "model:\n  head: {num_clases: 10}\nsearch:\n  model.nek: [{type: Flatten}]\n"
        "  optimizer.lr: {loguniform: [0.1, 0.01]}\n  seeds: [0]\n",
        plan(),
        [
            ["sweep.yaml: search.model.nek", "did you mean 'model.neck'?"],
            ["sweep.yaml: search.optimizer.lr"],
            ["sweep.yaml: model.head.num_clases", "num_classes"],
        ],
    ),
}


@pytest.mark.parametrize("row", [pytest.param(r, id=k) for k, r in ROWS.items()])
def test_every_static_problem_at_once(
    row: Row, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "sweep.yaml").write_text("_base_: base.yaml\n" + row.body)
    code = main(row.argv)
    out, err = capsys.readouterr()
    assert code == EXIT_USER_ERROR, f"exit {code}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == len(row.expected) + 1, err
    for line, fragments in zip(lines, row.expected):
        assert line.startswith("error: "), line
        for text in fragments:
            assert text in line, f"{text!r} not in:\n{line}"
    assert lines[-1] == f"error: sweep.yaml: {len(row.expected)} problems; nothing ran", lines[-1]


CLOSE = {
    # word, candidates, expected
    "case-beats-fewer-edits": ("Adamw", ["Adam", "AdamW", "SGD"], "AdamW"),
    "exact-case-insensitive": ("sgd", ["Adam", "SGD"], "SGD"),
    "near-miss-keeps-case": ("Adamx", ["Adam", "AdamW", "SGD"], "Adam"),
    "lowercase-typo": ("resnet_cifr", ["ResNet", "ResNet_CIFAR"], "ResNet_CIFAR"),
    "nothing-close": ("Transformer", ["Adam", "SGD"], None),
}


@pytest.mark.parametrize(("word", "options", "expected"), CLOSE.values(), ids=list(CLOSE))
def test_close_match_respects_case(word: str, options: list[str], expected: str | None) -> None:
    assert close_match(word, options) == expected
