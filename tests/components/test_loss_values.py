"""Loss semantics with exact expected numbers: ``weighted_loss`` (mmpretrain's rules) and the
built-in losses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from ablate import LOSSES, AblateError, weighted_loss
from ablate_components.losses.cross_entropy import CrossEntropyLoss
from ablate_components.losses.focal import FocalLoss
from ablate_components.losses.l1 import L1Loss
from ablate_components.losses.triplet import TripletLoss

LOG2, LOG4 = math.log(2.0), math.log(4.0)


@weighted_loss
def _abs_error(pred: Tensor, target: Tensor) -> Tensor:
    return (pred - target).abs()


PRED = torch.tensor([1.0, 2.0, 3.0, 4.0])
ZERO = torch.zeros(4)
WEIGHT = torch.tensor([1.0, 0.0, 1.0, 0.5])


class TestWeightedLoss:
    def test_reduction_without_weight(self) -> None:
        assert torch.equal(_abs_error(PRED, ZERO, reduction="none"), PRED)
        assert _abs_error(PRED, ZERO).item() == 2.5  # mean is the default
        assert _abs_error(PRED, ZERO, reduction="sum").item() == 10.0

    def test_elementwise_weight(self) -> None:
        assert _abs_error(PRED, ZERO, WEIGHT, reduction="none").tolist() == [1.0, 0.0, 3.0, 2.0]
        assert _abs_error(PRED, ZERO, WEIGHT, reduction="mean").item() == 1.5  # 6 / 4 elements
        assert _abs_error(PRED, ZERO, WEIGHT, reduction="sum").item() == 6.0

    def test_weight_broadcasts_per_row(self) -> None:
        pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        loss = _abs_error(pred, torch.zeros(2, 2), torch.tensor([[1.0], [0.0]]), reduction="none")
        assert loss.tolist() == [[1.0, 2.0], [0.0, 0.0]]

    def test_avg_factor_replaces_the_element_count(self) -> None:
        loss = _abs_error(PRED, ZERO, WEIGHT, reduction="mean", avg_factor=2.0)
        assert loss.item() == pytest.approx(3.0)  # 6 / 2, not 6 / 4
        no_weight = _abs_error(PRED, ZERO, reduction="mean", avg_factor=5.0)
        assert no_weight.item() == pytest.approx(2.0)

    def test_avg_factor_leaves_none_elementwise(self) -> None:
        loss = _abs_error(PRED, ZERO, WEIGHT, reduction="none", avg_factor=2.0)
        assert loss.tolist() == [1.0, 0.0, 3.0, 2.0]

    def test_sum_with_avg_factor_raises(self) -> None:
        with pytest.raises(ValueError, match="avg_factor"):
            _abs_error(PRED, ZERO, reduction="sum", avg_factor=2.0)

    def test_unknown_reduction_raises(self) -> None:
        with pytest.raises(ValueError, match="reduction"):
            _abs_error(PRED, ZERO, reduction="avg")


class TestReductionOverride:
    logits = torch.zeros(2, 4)  # uniform: each sample's cross-entropy is log 4
    labels = torch.tensor([0, 3])

    def test_default_and_override(self) -> None:
        ce = CrossEntropyLoss(reduction="mean")
        assert ce(self.logits, self.labels).item() == pytest.approx(LOG4)
        assert ce(self.logits, self.labels, reduction_override="sum").item() == pytest.approx(
            2 * LOG4
        )
        none = ce(self.logits, self.labels, reduction_override="none")
        assert none.shape == (2,) and none.tolist() == pytest.approx([LOG4, LOG4])
        summing = CrossEntropyLoss(reduction="sum")
        assert summing(self.logits, self.labels, reduction_override="mean").item() == pytest.approx(
            LOG4
        )

    def test_weight_avg_factor_and_loss_weight(self) -> None:
        ce = CrossEntropyLoss(loss_weight=2.0)
        weight = torch.tensor([1.0, 0.0])
        assert ce(self.logits, self.labels, weight).item() == pytest.approx(LOG4)  # 2 * log4 / 2
        got = ce(self.logits, self.labels, weight, avg_factor=1.0)
        assert got.item() == pytest.approx(2 * LOG4)

    def test_bad_override_raises(self) -> None:
        with pytest.raises(ValueError, match="reduction_override must be one of"):
            CrossEntropyLoss()(self.logits, self.labels, reduction_override="avg")

    def test_label_smoothing(self) -> None:
        logits = torch.tensor([[2.0, 0.0, 0.0, 0.0]])
        logp = F.log_softmax(logits, dim=1)[0]
        expected = -(0.9 * logp[0] + 0.1 * logp.mean())
        got = CrossEntropyLoss(label_smoothing=0.1)(logits, torch.tensor([0]))
        assert got.item() == pytest.approx(expected.item())


class TestFocalLoss:
    # Zero logits: p = 0.5 everywhere, so BCE = log 2 and (1 - p_t)**2 = 0.25.
    logits = torch.zeros(2, 2)
    labels = torch.tensor([0, 1])

    def test_exact_values(self) -> None:
        focal = FocalLoss(gamma=2.0, alpha=0.25)
        pos, neg = 0.25 * 0.25 * LOG2, 0.75 * 0.25 * LOG2
        none = focal(self.logits, self.labels, reduction_override="none")
        torch.testing.assert_close(none, torch.tensor([[pos, neg], [neg, pos]]))
        assert focal(self.logits, self.labels).item() == pytest.approx(
            (pos + neg) / 2
        )  # over N * C
        assert focal(self.logits, self.labels, reduction_override="sum").item() == pytest.approx(
            2 * (pos + neg)
        )

    def test_weight_is_per_sample(self) -> None:
        focal = FocalLoss(gamma=2.0, alpha=0.25)
        got = focal(self.logits, self.labels, weight=torch.tensor([1.0, 0.0]))
        assert got.item() == pytest.approx(0.25 * LOG2 / 4)

    def test_gamma_zero_is_weighted_bce(self) -> None:
        logits, labels = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
        bce = F.binary_cross_entropy_with_logits(logits, F.one_hot(labels, 3).float())
        got = FocalLoss(gamma=0.0, alpha=0.5, loss_weight=3.0)(logits, labels)
        assert got.item() == pytest.approx(3.0 * 0.5 * bce.item(), rel=1e-5)

    def test_soft_targets_and_bad_shapes(self) -> None:
        focal = FocalLoss()
        one_hot = F.one_hot(self.labels, 2).float()
        assert focal(self.logits, one_hot).item() == pytest.approx(
            focal(self.logits, self.labels).item()
        )
        with pytest.raises(ValueError, match=r"labels \(N,\) or \(N, C\)"):
            focal(self.logits, torch.zeros(2, 3))

    def test_bad_values_are_user_errors(self) -> None:
        with pytest.raises(
            AblateError, match=r"losses\.0\.alpha: FocalLoss: alpha must be in \[0, 1\]"
        ):
            LOSSES.build({"type": "FocalLoss", "alpha": 1.5}, key="losses.0")


class TestL1Loss:
    def test_values(self) -> None:
        pred, target = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.zeros(2, 2)
        l1 = L1Loss()
        assert l1(pred, target).item() == 2.5
        assert l1(pred, target, reduction_override="sum").item() == 10.0
        assert l1(pred, target, torch.tensor([[1.0], [0.0]])).item() == 0.75
        assert L1Loss(loss_weight=2.0)(pred, target, avg_factor=5.0).item() == pytest.approx(4.0)

    def test_no_silent_broadcasting(self) -> None:
        with pytest.raises(ValueError, match=r"one shape, got \(4, 1\) and \(4,\)"):
            L1Loss()(torch.zeros(4, 1), torch.zeros(4))


class TestTripletLoss:
    # 1-D embeddings: distances are plain differences.
    embeddings = torch.tensor([[0.0], [1.0], [3.0], [5.0]])
    labels = torch.tensor([0, 0, 1, 1])

    def test_batch_hard_values(self) -> None:
        # hardest pos / neg per anchor: (1, 3), (1, 2), (2, 2), (2, 4); only anchor 2 violates
        # the margin: 2 - 2 + 0.3.
        loss, info = TripletLoss(margin=0.3)(embeddings=self.embeddings, labels=self.labels)
        assert loss.item() == pytest.approx(0.3 / 4)
        assert float(info["hard_pos"]) == pytest.approx(1.5)
        assert float(info["hard_neg"]) == pytest.approx(2.75)
        assert float(info["active"]) == pytest.approx(0.25)

    def test_anchors_without_a_positive_are_skipped(self) -> None:
        emb = torch.cat([self.embeddings, torch.tensor([[100.0]])])
        loss, _ = TripletLoss(margin=0.3, loss_weight=2.0)(
            embeddings=emb, labels=torch.tensor([0, 0, 1, 1, 7])
        )
        assert loss.item() == pytest.approx(2.0 * 0.3 / 4)

    def test_no_valid_anchor_gives_zero_with_a_graph(self) -> None:
        emb = torch.randn(3, 2, requires_grad=True)
        loss, info = TripletLoss()(embeddings=emb, labels=torch.tensor([0, 1, 2]))
        loss.backward()
        assert loss.item() == 0.0 and info["active"] == 0.0
        assert emb.grad is not None and emb.grad.abs().sum() == 0

    def test_coincident_embeddings_keep_finite_gradients(self) -> None:
        emb = torch.zeros(4, 3, requires_grad=True)
        loss, _ = TripletLoss(margin=1.0)(embeddings=emb, labels=self.labels)
        loss.backward()
        assert torch.isfinite(emb.grad).all()

    def test_bad_margin_is_a_user_error(self) -> None:
        with pytest.raises(
            AblateError, match=r"model\.head\.loss\.margin: TripletLoss: margin must be >= 0"
        ):
            LOSSES.build({"type": "TripletLoss", "margin": -1.0}, key="model.head.loss")
