"""Every mistake in ``evaluation:`` and in the metric ``tune.metric`` names is exit 2 at
``ablate plan``, before anything runs: the pattern of ``tests/test_bad_input_sweep.py``.

``where`` is the ``FILE: KEY`` the last stderr line starts with; ``expected`` must all be in
stderr. A metric that cannot read the output of every combination is one line; of only some
combinations, one line each plus the summary.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from ablate.cli import main
from ablate.errors import EXIT_USER_ERROR

BASE = """\
model:
  type: ImageClassifier
  backbone: {type: ConvNet, in_channels: 1, widths: [4]}
  neck: {type: GlobalAveragePooling}
  head: {type: LinearClsHead, num_classes: 10, topk: [1]}
data:
  dataset: {type: Digits, limit: 16}
  batch_size: 8
optimizer: {type: SGD, lr: 0.05}
train: {epochs: 2, num_threads: 1}
"""
SEARCH = "search:\n  optimizer.lr: [0.1, 0.01]\n"
NECKS = "search:\n  model.neck: [{type: GlobalAveragePooling}, {type: Flatten}]\n"


class Row(NamedTuple):
    body: str
    where: str
    expected: list[str]
    lines: int = 1  # stderr lines: one, or each broken combination's plus the summary
    search: str = SEARCH


ROWS: dict[str, Row] = {
    "metric-typo": Row(
        "evaluation: {metrics: [{type: Acuracy}]}",
        "sweep.yaml: evaluation.metrics.0.type",
        ["unknown metric type 'Acuracy'", "(did you mean 'Accuracy'?)"],
    ),
    "metric-unknown-argument": Row(
        "evaluation: {metrics: [{type: Accuracy, top_k: 1}]}",
        "sweep.yaml: evaluation.metrics.0.top_k",
        ["unknown argument 'top_k' for Accuracy", "(did you mean 'topk'?)"],
    ),
    "metric-bad-value": Row(
        "evaluation: {metrics: [{type: MacroF1}, {type: Accuracy, topk: [0]}]}",
        "sweep.yaml: evaluation.metrics.1.topk",
        ["topk must be positive whole numbers, got [0]"],
    ),
    "metric-bad-choice": Row(
        "evaluation: {metrics: [{type: Retrieval, distance: cosin}]}",
        "sweep.yaml: evaluation.metrics.0.distance",
        ["expected 'euclidean' | 'cosine'"],
    ),
    "metric-names-clash": Row(
        "evaluation: {metrics: [{type: Accuracy}, {type: Accuracy, topk: 1}]}",
        "sweep.yaml: evaluation.metrics.1",
        ["metrics 0 and 1 both produce 'top1'"],
    ),
    "metric-not-a-dict": Row(
        "evaluation: {metrics: [Accuracy]}",
        "sweep.yaml: evaluation.metrics",
        ["expected list[dict[str, Any]] | None", "got ['Accuracy']"],
    ),
    "evaluation-unknown-key": Row(
        "evaluation: {metric: [{type: Accuracy}]}",
        "sweep.yaml: evaluation.metric",
        ["unknown argument 'metric' for evaluation", "(did you mean 'metrics'?)"],
    ),
    "evaluation-test-not-a-bool": Row(
        "evaluation: {test: maybe}",
        "sweep.yaml: evaluation.test",
        ["expected bool"],
    ),
    "metric-input-the-model-lacks": Row(
        "evaluation: {metrics: [{type: MSE}]}",
        "sweep.yaml: evaluation.metrics.0",
        [
            "MSE reads inference_feat.preds but the model's inference_feat has no 'preds'; "
            "it has: logits"
        ],
    ),
    "metric-batch-key-misspelt": Row(
        "evaluation: {metrics: [{type: Accuracy, target_key: label}]}",
        "sweep.yaml: evaluation.metrics.0",
        ["the batch has no 'label' (did you mean 'labels'?)"],
    ),
    "metric-on-every-combination": Row(
        "evaluation: {metrics: [{type: BoxIoU}]}",
        "sweep.yaml: evaluation.metrics.0",
        ["BoxIoU reads inference_feat.boxes"],
        search=NECKS,
    ),
    "metric-on-some-combinations": Row(
        "evaluation: {metrics: [{type: Accuracy}]}",
        "sweep.yaml: search",
        [
            "[evaluation.metrics.0=MSE] ",
            "MSE reads inference_feat.preds",
            "1 of 2 model combinations do not build",
        ],
        lines=2,
        search="search:\n  evaluation.metrics.0: [{type: Accuracy, topk: 1}, {type: MSE}]\n",
    ),
    "no-test-split": Row(
        "data: {dataset: {_delete_: true, type: SyntheticImages, num_samples: 16}}\n"
        "evaluation: {test: true}",
        "sweep.yaml: evaluation.test",
        ["SyntheticImages cannot be built with split='test'"],
    ),
    "tune-metric-typo": Row(
        "tune: {metric: val/top2}",
        "sweep.yaml: tune.metric",
        ["metric 'val/top2' is never reported", "(did you mean 'val/top1'?)"],
    ),
    "tune-metric-not-configured": Row(
        "evaluation: {metrics: [{type: Accuracy, topk: 1}]}\ntune: {metric: val/f1}",
        "sweep.yaml: tune.metric",
        ["metric 'val/f1' is never reported", "reported: ", "val/top1"],
    ),
    "tune-metric-test": Row(
        "evaluation: {test: true}\ntune: {metric: test/top1}",
        "sweep.yaml: tune.metric",
        ["'test/top1' is measured once, at a trial's end", "select on val/top1"],
    ),
}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("row", [pytest.param(r, id=k) for k, r in ROWS.items()])
def test_bad_evaluation(row: Row, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    sweep = f"_base_: base.yaml\n{row.search}{row.body}\n"
    (tmp_path / "sweep.yaml").write_text(sweep, encoding="utf-8")

    code = main(["plan", str(tmp_path / "sweep.yaml")])
    out, err = capsys.readouterr()

    assert code == EXIT_USER_ERROR, f"exit {code}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == row.lines, f"expected {row.lines} stderr lines, got:\n{err}"
    last = lines[-1].replace(f"{tmp_path}/", "")
    assert last.startswith(f"error: {row.where}: "), f"expected 'error: {row.where}: ...':\n{last}"
    for text in row.expected:
        assert text in err, f"{text!r} not in:\n{err}"
