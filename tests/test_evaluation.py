"""Evaluation end to end in one process: part-shaped embeddings (OpenGait's convention 8),
the held-out test split, and the mode a metric gives ``tune.metric``."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from ablate import METRICS, MODELS, BaseMetric, BaseModel
from ablate.cli import main
from ablate.config import load_config
from ablate.errors import EXIT_USER_ERROR, AblateError
from ablate.plan import make_plan
from ablate.train.check import check_builds
from ablate.train.loop import Runtime, train
from ablate_components.datasets.digits import Digits


class PartNet(BaseModel):
    """Flattened 8x8 digits -> (N, 8, parts) part-shaped embeddings; ``bug`` adds a dim."""

    def build_network(self, model_cfg: dict[str, Any]) -> None:
        self.parts, self.bug = model_cfg["parts"], model_cfg["bug"]
        self.proj = nn.Linear(64, 8 * self.parts)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Any]:
        emb = self.proj(batch["inputs"].flatten(1)).view(-1, 8, self.parts)  # (N, C, P)
        shown = emb[..., None] if self.bug else emb  # the mistake: (N, C, P, 1)
        return {
            "training_feat": {"triplet": {"embeddings": emb.flatten(1), "labels": batch["labels"]}},
            "visual_summary": {},
            "inference_feat": {"embeddings": shown},
        }


class WorstClassError(BaseMetric):
    """The highest per-class error rate, in percent: ``worst``, lower is better."""

    higher_is_better = False

    def __init__(self) -> None:
        super().__init__({"logits": "inference_feat.logits", "labels": "batch.labels"})
        self.add_state("wrong", torch.zeros(10, dtype=torch.float64), "sum")
        self.add_state("seen", torch.zeros(10, dtype=torch.float64), "sum")

    def names(self) -> list[str]:
        return ["worst"]

    def update(self, logits: Tensor, labels: Tensor) -> None:
        miss = (logits.argmax(1) != labels).double()
        self.wrong += torch.bincount(labels, weights=miss, minlength=10)
        self.seen += torch.bincount(labels, minlength=10).double()

    def compute(self) -> dict[str, Tensor]:
        return {"worst": 100.0 * (self.wrong / self.seen.clamp(min=1)).max()}


@pytest.fixture(autouse=True)
def _plugins() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    MODELS.register_module(module=PartNet)
    METRICS.register_module(module=WorstClassError)
    yield
    del MODELS._table["PartNet"], METRICS._table["WorstClassError"]
    torch.set_num_threads(before)


PART_NET = """\
model: {type: PartNet, parts: 3, bug: false}
losses: [{type: TripletLoss, log_prefix: triplet, margin: 0.2}]
data: {dataset: {type: Digits, limit: 64}, batch_size: 32}
optimizer: {type: SGD, lr: 0.05}
train: {epochs: 1, num_threads: 1}
"""
CLASSIFIER = """\
model:
  type: ImageClassifier
  backbone: {type: ConvNet, in_channels: 1, widths: [4]}
  neck: {type: GlobalAveragePooling}
  head: {type: LinearClsHead, num_classes: 10, topk: [1]}
data: {dataset: {type: Digits, limit: 48}, batch_size: 16}
optimizer: {type: SGD, lr: 0.1}
train: {epochs: 2, num_threads: 1}
"""


class Recorder(Runtime):
    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def report(self, metrics: dict[str, Any], images: Any, state: Any) -> None:
        self.reports.append(dict(metrics))


def _write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_part_shaped_embedding_mistake_fails_at_plan_not_after_an_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = PART_NET.replace("bug: false", "bug: true") + "search:\n  optimizer.lr: [0.1, 0.01]\n"
    code = main(["plan", str(_write(tmp_path, sweep))])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR, err
    assert "Retrieval fails on inference_feat {'embeddings': (2, 8, 3, 1)}" in err
    assert "expects embeddings of shape (N, C) or part-shaped (N, C, P)" in err
    # ablate train refuses it at build time too: no epoch runs.
    code = main(["train", str(_write(tmp_path, sweep.split("search:")[0], "train.yaml"))])
    out, err = capsys.readouterr()
    assert code == EXIT_USER_ERROR and "epoch" not in out and "(2, 8, 3, 1)" in err


def test_part_shaped_embeddings_are_compared_per_part(tmp_path: Path) -> None:
    runtime = Recorder()
    final = train(load_config(_write(tmp_path, PART_NET)), runtime)
    assert {"val/rank1", "val/rank5", "val/mAP"} <= set(final)
    assert 10.0 < final["val/rank1"] <= 100.0 and math.isfinite(final["val/mAP"])


def test_the_test_split_is_evaluated_once_at_the_end(tmp_path: Path) -> None:
    cfg = (
        CLASSIFIER
        + "evaluation: {metrics: [{type: Accuracy, topk: 1}, {type: MacroF1}], test: true}\n"
    )
    runtime = Recorder()
    train(load_config(_write(tmp_path, cfg)), runtime)
    first, last = runtime.reports
    assert not [k for k in first if k.startswith("test/")]
    assert {"test/loss", "test/top1", "test/f1"} <= set(last)
    assert {"val/loss", "val/top1", "val/f1"} <= set(first) & set(last)


def test_digits_splits_three_ways_and_the_test_set_is_fixed() -> None:
    def rows(ds: Digits) -> set[bytes]:
        return {x.numpy().tobytes() for x in ds.inputs}

    train_, val, test = (Digits(s) for s in ("train", "val", "test"))
    assert (len(train_), len(val), len(test)) == (1077, 360, 360)
    assert not rows(train_) & rows(test) and not rows(val) & rows(test)
    assert rows(Digits("test", val_fraction=0.5)) == rows(test)


@pytest.mark.parametrize(
    ("tune", "mode"),
    [
        ("{metric: val/worst}", "min"),  # the plugin metric's higher_is_better = False
        ("{metric: val/worst, mode: max}", "max"),  # a written mode wins
        ("{metric: val/top1}", "max"),
        ("{metric: val/loss}", "min"),
    ],
)
def test_tune_mode_comes_from_the_metric(tmp_path: Path, tune: str, mode: str) -> None:
    sweep = (
        CLASSIFIER
        + "evaluation: {metrics: [{type: Accuracy, topk: 1}, {type: WorstClassError}]}\n"
        + f"search:\n  optimizer.lr: [0.1, 0.01]\ntune: {tune}\n"
    )
    plan = make_plan(load_config(_write(tmp_path, sweep)))
    check_builds(plan)
    assert plan.tune.mode == mode


def test_a_metric_is_a_searchable_component(tmp_path: Path) -> None:
    """``evaluation.metrics.0`` is a dimension like ``model.neck``: each choice is built, and
    a metric name only some choices report cannot be the sweep's metric."""
    sweep = (
        CLASSIFIER
        + "evaluation: {metrics: [{type: Accuracy, topk: 1}]}\n"
        + "search:\n  evaluation.metrics.0: [{type: Accuracy, topk: 1}, {type: MacroF1}]\n"
        + "  evaluation.metrics.0.topk: [1, 2]\n"
    )
    path = _write(tmp_path, sweep + "tune: {metric: val/loss}\n")
    with pytest.raises(AblateError, match=r"lies inside dimension 'evaluation\.metrics\.0'"):
        make_plan(load_config(path))
    path = _write(
        tmp_path, sweep.rsplit("  evaluation.metrics.0.topk", 1)[0] + "tune: {metric: val/loss}\n"
    )
    plan = make_plan(load_config(path))
    builds = check_builds(plan)
    assert sorted(sorted(b.metrics & {"val/top1", "val/f1"}) for b in builds) == [
        ["val/f1"],
        ["val/top1"],
    ]
    configs = [plan.trials[i].point for i in range(2)]
    assert configs == [{"evaluation.metrics.0": "Accuracy"}, {"evaluation.metrics.0": "MacroF1"}]
    plan = make_plan(load_config(path, ["tune.metric=val/f1"]))
    with pytest.raises(AblateError, match=r"'val/f1' is never reported by 1 of 2 combinations"):
        check_builds(plan)
