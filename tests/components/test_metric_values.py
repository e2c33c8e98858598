"""Every registered metric, built through ``METRICS``, against an independent reference:
scikit-learn where it has the metric, a plain loop where it does not.

Each case feeds the data in uneven batches, so a state that forgets to accumulate fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from torch import Tensor

from ablate import METRICS, BaseMetric

GEN = torch.Generator().manual_seed(0)
N = 23
LOGITS = torch.randn(N, 5, generator=GEN)
LABELS = torch.randint(0, 4, (N,), generator=GEN)  # class 4 is never a label
PREDS = torch.randn(N, 2, generator=GEN)
TARGETS = PREDS + 0.5 * torch.randn(N, 2, generator=GEN)


def _boxes(n: int) -> tuple[Tensor, Tensor]:
    lo = torch.rand(n, 2, generator=GEN) * 0.5
    gt = torch.cat([lo, lo + 0.2 + 0.3 * torch.rand(n, 2, generator=GEN)], dim=1)
    pred = gt + 0.1 * torch.randn(n, 4, generator=GEN)
    return pred, gt


BOXES, GT_BOXES = _boxes(N)
EMB = torch.randn(N, 4, 3, generator=GEN)  # part-shaped (N, C, P)
IDS = torch.arange(N) % 6
PROBE = torch.arange(N) % 4 == 0
VIEWS = (torch.arange(N) // 6) % 2


def _feed(metric: BaseMetric, inference: dict[str, Tensor], batch: dict[str, Tensor]) -> dict:
    for lo, hi in ((0, 7), (7, 8), (8, N)):
        metric.update_from(
            {"inference_feat": {k: v[lo:hi] for k, v in inference.items()}},
            {k: v[lo:hi] for k, v in batch.items()},
        )
    return {k: v.double() if v.is_floating_point() else v for k, v in metric.results().items()}


def _topk(k: int) -> float:
    top = LOGITS.topk(k, dim=1).indices
    return 100.0 * float((top == LABELS[:, None]).any(dim=1).double().mean())


def _iou(p: np.ndarray, g: np.ndarray) -> float:
    w = max(0.0, min(p[2], g[2]) - max(p[0], g[0]))
    h = max(0.0, min(p[3], g[3]) - max(p[1], g[1]))
    inter = w * h
    area = max(0.0, p[2] - p[0]) * max(0.0, p[3] - p[1])
    union = area + (g[2] - g[0]) * (g[3] - g[1]) - inter
    return inter / union if union > 0 else 0.0


def _ious() -> list[float]:
    return [_iou(p, g) for p, g in zip(BOXES.numpy(), GT_BOXES.numpy())]


def _retrieval(probe_flag: bool, exclude: bool, flatten: bool) -> dict[str, float]:
    """Rank-1/rank-2 and mAP by a plain loop over probes (OpenGait's definition)."""
    ranks, aps = [0, 0], []
    for q in range(N):
        if probe_flag and not PROBE[q]:
            continue
        gallery = [
            g
            for g in range(N)
            if g != q and (not probe_flag or not PROBE[g]) and (not exclude or VIEWS[g] != VIEWS[q])
        ]

        def dist(g: int, q: int = q) -> float:
            if flatten:
                return float((EMB[q].flatten() - EMB[g].flatten()).norm())
            return sum(float((EMB[q, :, p] - EMB[g, :, p]).norm()) for p in range(3)) / 3

        ordered = sorted(gallery, key=dist)
        hits = [IDS[g] == IDS[q] for g in ordered]
        if not any(hits):
            continue
        ranks[0] += bool(hits[0])
        ranks[1] += bool(any(hits[:2]))
        found, precisions = 0, []
        for i, hit in enumerate(hits, start=1):
            if hit:
                found += 1
                precisions.append(found / i)
        aps.append(sum(precisions) / len(precisions))
    n = len(aps)
    return {"rank1": 100 * ranks[0] / n, "rank2": 100 * ranks[1] / n, "mAP": 100 * sum(aps) / n}


LOGIT_IN = ({"logits": LOGITS}, {"labels": LABELS})
REG_IN = ({"preds": PREDS}, {"targets": TARGETS})
BOX_IN = ({"boxes": BOXES}, {"gt_boxes": GT_BOXES})
RET_IN = ({"embeddings": EMB}, {"labels": IDS, "is_probe": PROBE, "views": VIEWS})
y, yhat = LABELS.numpy(), LOGITS.argmax(1).numpy()

#: (case id, config, inputs, expected results, modes of the names)
CASES: list[tuple[str, dict[str, Any], tuple[dict, dict], Callable[[], dict], str]] = [
    ("Accuracy", {"type": "Accuracy", "topk": [1, 3]}, LOGIT_IN, lambda: {"top1": _topk(1), "top3": _topk(3)}, "max"),
    ("Accuracy-k-above-C", {"type": "Accuracy", "topk": 9}, LOGIT_IN, lambda: {"top9": 100.0}, "max"),
    ("MacroF1", {"type": "MacroF1"}, LOGIT_IN, lambda: {"f1": 100 * skm.f1_score(y, yhat, average="macro")}, "max"),
    ("MacroPrecision", {"type": "MacroPrecision"}, LOGIT_IN, lambda: {"precision": 100 * skm.precision_score(y, yhat, average="macro", zero_division=0)}, "max"),
    ("MacroRecall", {"type": "MacroRecall"}, LOGIT_IN, lambda: {"recall": 100 * skm.recall_score(y, yhat, average="macro", zero_division=0)}, "max"),
    ("ConfusionMatrix", {"type": "ConfusionMatrix"}, LOGIT_IN, lambda: {"confusion": skm.confusion_matrix(y, yhat, labels=range(5))}, "max"),
    ("MSE", {"type": "MSE"}, REG_IN, lambda: {"mse": skm.mean_squared_error(TARGETS, PREDS)}, "min"),
    ("MAE", {"type": "MAE"}, REG_IN, lambda: {"mae": skm.mean_absolute_error(TARGETS, PREDS)}, "min"),
    ("R2", {"type": "R2"}, REG_IN, lambda: {"r2": skm.r2_score(TARGETS, PREDS)}, "max"),
    ("BoxIoU", {"type": "BoxIoU"}, BOX_IN, lambda: {"iou": float(np.mean(_ious()))}, "max"),
    (
        "SuccessAUC",
        {"type": "SuccessAUC"},
        BOX_IN,
        lambda: {"success_auc": float(np.mean([np.mean(np.array(_ious()) > t) for t in np.linspace(0, 1, 21)]))},
        "max",
    ),
    ("Retrieval-leave-one-out-parts", {"type": "Retrieval", "topk": [1, 2]}, RET_IN, lambda: _retrieval(False, False, False), "max"),
    ("Retrieval-probe-gallery", {"type": "Retrieval", "topk": [1, 2], "probe_key": "is_probe"}, RET_IN, lambda: _retrieval(True, False, False), "max"),
    (
        "Retrieval-exclude-views-flatten",
        {"type": "Retrieval", "topk": [1, 2], "probe_key": "is_probe", "exclude_key": "views", "parts": "flatten"},
        RET_IN,
        lambda: _retrieval(True, True, True),
        "max",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cfg", "inputs", "expected", "mode"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_metric_matches_its_reference(
    cfg: dict[str, Any], inputs: tuple[dict, dict], expected: Callable[[], dict], mode: str
) -> None:
    metric = METRICS.build(cfg)
    got = _feed(metric, *inputs)
    want = expected()
    assert set(got) == set(want) == set(metric.names()) | set(metric.artifacts)
    for name, value in want.items():
        np.testing.assert_allclose(
            got[name].numpy(), np.asarray(value, dtype=float), rtol=1e-6, atol=1e-6
        )  # torchmetrics' F1 is float32
    assert {metric.mode(n) for n in metric.names()} <= {mode}
    metric.reset()  # a reset metric starts over: the same data gives the same values
    again = _feed(metric, *inputs)
    assert all(torch.equal(again[k], got[k]) for k in got)


def test_every_builtin_metric_has_a_case() -> None:
    builtins = {n for n, cls in METRICS.items() if cls.__module__.startswith("ablate_components")}
    assert builtins == {c[1]["type"] for c in CASES}


def test_perfect_predictions_score_perfectly() -> None:
    """The reference could share a bug with the metric; the ends of the scales cannot."""
    onehot = torch.nn.functional.one_hot(LABELS, 5).float()
    assert (
        _feed(METRICS.build({"type": "MacroF1"}), {"logits": onehot}, {"labels": LABELS})["f1"]
        == 100
    )
    gt = {"gt_boxes": GT_BOXES}
    assert _feed(METRICS.build({"type": "SuccessAUC"}), {"boxes": GT_BOXES}, gt)[
        "success_auc"
    ] == pytest.approx(20 / 21)
    assert _feed(METRICS.build({"type": "BoxIoU"}), {"boxes": GT_BOXES}, gt)[
        "iou"
    ] == pytest.approx(1.0)
    reg = _feed(METRICS.build({"type": "R2"}), {"preds": TARGETS}, {"targets": TARGETS})
    assert reg["r2"] == pytest.approx(1.0)
    same = torch.nn.functional.one_hot(IDS, 6).float()  # one point per identity
    ret = _feed(METRICS.build({"type": "Retrieval"}), {"embeddings": same}, {"labels": IDS})
    assert ret["rank1"] == ret["mAP"] == 100


@pytest.mark.parametrize(
    ("cfg", "inference", "batch", "message"),
    [
        ({"type": "Accuracy"}, {"logits": LOGITS[:, :, None]}, {"labels": LABELS}, r"logits of shape \(N, C\)"),
        ({"type": "Accuracy"}, {"logits": LOGITS}, {"labels": LABELS[:5]}, r"labels of shape \(23,\)"),
        ({"type": "MSE"}, {"preds": PREDS[:, :1]}, {"targets": TARGETS[:, 0]}, "of one shape"),
        ({"type": "Retrieval"}, {"embeddings": EMB[..., None]}, {"labels": IDS}, r"part-shaped \(N, C, P\)"),
        ({"type": "BoxIoU"}, {"boxes": BOXES[:, :2]}, {"gt_boxes": GT_BOXES}, r"\(N, 4\)"),
    ],
)  # fmt: skip
def test_a_wrong_shape_is_refused(cfg: dict, inference: dict, batch: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        METRICS.build(cfg).update_from({"inference_feat": inference}, batch)


def test_a_missing_key_names_what_there_is() -> None:
    metric = METRICS.build({"type": "Retrieval", "probe_key": "is_prob"})
    with pytest.raises(KeyError, match=r"batch has no 'is_prob' \(did you mean 'is_probe'\?\)"):
        metric.update_from(
            {"inference_feat": {"embeddings": EMB}}, {"labels": IDS, "is_probe": PROBE}
        )
    assert metric.inputs["is_probe"] == "batch.is_prob"
