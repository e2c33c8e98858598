"""The task losses with exact expected numbers: IoU/GIoU on boxes, MSE and smooth L1."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ablate import LOSSES, AblateError
from ablate_components.losses.iou import GIoULoss, IoULoss, aligned_iou
from ablate_components.losses.regression import MSELoss, SmoothL1Loss

# Two 2x2 squares overlapping in one unit square: IoU 1/7; the enclosing box is 3x3, of
# which the union leaves 2 empty, so GIoU = 1/7 - 2/9.
A = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
B = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
# Side by side with a gap of 1: IoU 0, enclosing 3x1 with union 2, so GIoU = -1/3.
LEFT = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
RIGHT = torch.tensor([[2.0, 0.0, 3.0, 1.0]])


class TestAlignedIoU:
    def test_overlap_identity_and_disjoint(self) -> None:
        assert aligned_iou(A, B).item() == pytest.approx(1 / 7)
        assert aligned_iou(A, B, "giou").item() == pytest.approx(1 / 7 - 2 / 9)
        assert aligned_iou(A, A).item() == pytest.approx(1.0)
        assert aligned_iou(A, A, "giou").item() == pytest.approx(1.0)
        assert aligned_iou(LEFT, RIGHT).item() == 0.0
        assert aligned_iou(LEFT, RIGHT, "giou").item() == pytest.approx(-1 / 3)

    def test_symmetric_and_degenerate_boxes_score_zero(self) -> None:
        assert aligned_iou(B, A).item() == pytest.approx(aligned_iou(A, B).item())
        flipped = torch.tensor([[2.0, 2.0, 0.0, 0.0]])  # x2 < x1: no area
        assert aligned_iou(flipped, A).item() == 0.0


class TestIoULoss:
    def test_modes(self) -> None:
        iou = 1 / 7
        assert IoULoss()(A, B).item() == pytest.approx(1 - iou)
        assert IoULoss(mode="square")(A, B).item() == pytest.approx(1 - iou**2)
        assert IoULoss(mode="log")(A, B).item() == pytest.approx(-math.log(iou))
        assert IoULoss()(A, A).item() == pytest.approx(0.0, abs=1e-6)

    def test_weight_reduction_avg_factor(self) -> None:
        pred, target = torch.cat([A, A]), torch.cat([B, A])
        loss = IoULoss(loss_weight=2.0)
        assert loss(pred, target, reduction_override="none").tolist() == pytest.approx(
            [2 * 6 / 7, 0.0], abs=1e-6
        )
        weight = torch.tensor([1.0, 0.0])
        assert loss(pred, target, weight).item() == pytest.approx(2 * 6 / 7 / 2)
        assert loss(pred, target, weight, avg_factor=1.0).item() == pytest.approx(2 * 6 / 7)
        assert loss(pred, target, reduction_override="sum").item() == pytest.approx(2 * 6 / 7)

    def test_disjoint_boxes_get_no_gradient_from_iou_but_do_from_giou(self) -> None:
        """Why GIoU exists: IoU is flat at 0 for boxes that do not touch."""
        for loss, moves in ((IoULoss(), False), (GIoULoss(), True)):
            pred = LEFT.clone().requires_grad_()
            loss(pred, RIGHT).backward()
            assert pred.grad is not None
            assert bool(pred.grad.abs().sum() > 0) is moves
            if moves:  # the gradient step moves the box's right edge towards the target
                assert pred.grad[0, 2] < 0

    def test_no_boxes_is_a_zero_with_a_graph(self) -> None:
        for loss in (IoULoss(), GIoULoss()):
            pred = torch.zeros(0, 4, requires_grad=True)
            out = loss(pred, torch.zeros(0, 4))
            out.backward()
            assert out.item() == 0.0 and pred.grad is not None

    def test_shapes_and_arguments(self) -> None:
        with pytest.raises(ValueError, match=r"IoULoss expects pred and target boxes \(N, 4\)"):
            IoULoss()(torch.zeros(2, 4), torch.zeros(2, 2))
        with pytest.raises(
            AblateError,
            match=r"losses\.1\.mode: expected 'linear'.*'square'.*'log'.* for IoULoss\.mode",
        ):
            LOSSES.build({"type": "IoULoss", "mode": "cubic"}, key="losses.1")


class TestGIoULoss:
    def test_values(self) -> None:
        assert GIoULoss()(A, B).item() == pytest.approx(1 - (1 / 7 - 2 / 9))
        assert GIoULoss()(LEFT, RIGHT).item() == pytest.approx(4 / 3)
        both = GIoULoss(reduction="sum")(torch.cat([A, LEFT]), torch.cat([B, RIGHT]))
        assert both.item() == pytest.approx(1 - (1 / 7 - 2 / 9) + 4 / 3)

    def test_matches_a_scalar_reference_on_random_boxes(self) -> None:
        gen = torch.Generator().manual_seed(0)
        boxes = []
        for _ in range(2):
            lo = torch.rand(30, 2, generator=gen)
            boxes.append(torch.cat([lo, lo + torch.rand(30, 2, generator=gen) + 0.05], 1))
        pred, target = boxes
        got = GIoULoss(reduction="none")(pred, target)
        for (px1, py1, px2, py2), (tx1, ty1, tx2, ty2), g in zip(
            pred.tolist(), target.tolist(), got.tolist()
        ):
            inter = max(0.0, min(px2, tx2) - max(px1, tx1)) * max(
                0.0, min(py2, ty2) - max(py1, ty1)
            )
            union = (px2 - px1) * (py2 - py1) + (tx2 - tx1) * (ty2 - ty1) - inter
            hull = (max(px2, tx2) - min(px1, tx1)) * (max(py2, ty2) - min(py1, ty1))
            assert g == pytest.approx(1 - (inter / union - (hull - union) / hull), rel=1e-5)


class TestRegressionLosses:
    pred = torch.tensor([0.5, -3.0, 1.0])
    target = torch.zeros(3)

    def test_mse(self) -> None:
        assert MSELoss()(self.pred, self.target).item() == pytest.approx((0.25 + 9 + 1) / 3)
        assert MSELoss(loss_weight=2.0, reduction="sum")(self.pred, self.target).item() == (
            pytest.approx(2 * 10.25)
        )
        weight = torch.tensor([1.0, 0.0, 1.0])
        assert MSELoss()(self.pred, self.target, weight, avg_factor=2.0).item() == (
            pytest.approx(1.25 / 2)
        )

    def test_smooth_l1_by_hand_and_against_torch(self) -> None:
        # beta 1: 0.5 * 0.25, then 3 - 0.5 and 1 - 0.5 (|d| = beta is on the linear side).
        none = SmoothL1Loss(reduction="none")(self.pred, self.target)
        assert none.tolist() == pytest.approx([0.125, 2.5, 0.5])
        for beta in (0.5, 1.0, 2.0):
            x, y = torch.randn(20), torch.randn(20)
            got = SmoothL1Loss(beta=beta)(x, y)
            assert got.item() == pytest.approx(F.smooth_l1_loss(x, y, beta=beta).item(), rel=1e-6)

    def test_no_silent_broadcasting_and_bad_beta(self) -> None:
        for loss in (MSELoss(), SmoothL1Loss()):
            with pytest.raises(ValueError, match=r"one shape, got \(4, 1\) and \(4,\)"):
                loss(torch.zeros(4, 1), torch.zeros(4))
        with pytest.raises(
            AblateError, match=r"model\.head\.loss\.beta: SmoothL1Loss: beta must be positive"
        ):
            LOSSES.build({"type": "SmoothL1Loss", "beta": 0.0}, key="model.head.loss")
