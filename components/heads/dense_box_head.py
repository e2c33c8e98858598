"""A dense single-object box head: a classification branch and a box branch per location,
with mmtracking's ``loss_cls`` / ``loss_bbox`` arguments."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate import HEADS, BaseModule

DEFAULT_LOSS_CLS = {"type": "CrossEntropyLoss"}
DEFAULT_LOSS_BBOX = {"type": "L1Loss"}


def _branch(cin: int, width: int, stacked: int, cout: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(stacked):
        layers += [
            nn.Conv2d(cin, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
        cin = width
    layers.append(nn.Conv2d(cin, cout, 1))
    return nn.Sequential(*layers)


def location_centres(height: int, width: int, device: torch.device) -> Tensor:
    """Centres (H * W, 2) of a feature map's cells as (x, y) fractions of the image."""
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)


@HEADS.register_module()
class DenseBoxHead(BaseModule):
    """Per feature-map cell: is the target's centre here (2 logits), and where are the box's
    sides (distances left, top, right, bottom, as in DenseBox and FCOS).

    Training labels a cell positive when it is within ``center_radius`` cells of the cell
    holding the target's centre and its own centre lies inside the target box (the centre
    cell always counts). The classification loss sees every cell; the box loss only the
    positive ones. Inference takes the highest-scoring cell's box.

    Args:
        in_channels: Input width; inferred from the backbone's output when omitted.
        feat_channels: Width of each branch's convs.
        stacked_convs: 3x3 conv-BN-ReLU layers per branch before its 1x1 output conv.
        center_radius: Neighbourhood of the centre cell, in cells, that may be positive.
        loss_cls: Loss of the ``cls`` prefix; reads ``logits`` (N * H * W, 2) and ``labels``.
        loss_bbox: Loss of the ``bbox`` prefix; reads ``pred`` and ``target`` (P, 4) xyxy.
        init_cfg: See ``ablate.nn.weights``.

    Shapes:
        (N, in_channels, H, W) (or a tuple whose last entry is that) ->
        ``(cls_score (N, 2, H, W), distances (N, 4, H, W))``, distances >= 0 in image
        fractions.
    """

    def __init__(
        self,
        in_channels: int | None = None,
        feat_channels: int = 32,
        stacked_convs: int = 1,
        center_radius: int = 1,
        loss_cls: dict[str, Any] | None = None,
        loss_bbox: dict[str, Any] | None = None,
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if in_channels is None:
            raise ValueError(
                "in_channels is required when there is no sample batch to infer it from"
            )
        if feat_channels < 1 or stacked_convs < 0:
            raise ValueError(
                f"need feat_channels >= 1 and stacked_convs >= 0, got {feat_channels}, {stacked_convs}"
            )
        if center_radius < 0:
            raise ValueError(f"center_radius must be >= 0, got {center_radius}")
        self.center_radius = center_radius
        self.loss_cls_cfg = dict(loss_cls) if loss_cls is not None else dict(DEFAULT_LOSS_CLS)
        self.loss_bbox_cfg = dict(loss_bbox) if loss_bbox is not None else dict(DEFAULT_LOSS_BBOX)
        self.cls_branch = _branch(in_channels, feat_channels, stacked_convs, 2)
        self.reg_branch = _branch(in_channels, feat_channels, stacked_convs, 4)

    def forward(self, feats: Any) -> tuple[Tensor, Tensor]:
        x = feats[-1] if isinstance(feats, tuple | list) else feats
        if x.dim() != 4:
            raise ValueError(
                f"DenseBoxHead expects a feature map (N, C, H, W), got {tuple(x.shape)}; "
                "use no pooling neck"
            )
        # softplus keeps distances positive, so every decoded box has x2 > x1, y2 > y1.
        return self.cls_branch(x), F.softplus(self.reg_branch(x))

    def decode(self, distances: Tensor) -> Tensor:
        """Distances (N, 4, H, W) -> boxes (N, H * W, 4) xyxy in image fractions."""
        _n, _, h, w = distances.shape
        centres = location_centres(h, w, distances.device)  # (H * W, 2)
        ltrb = distances.flatten(2).transpose(1, 2)  # (N, H * W, 4)
        return torch.cat([centres - ltrb[..., :2], centres + ltrb[..., 2:]], dim=2)

    def positives(self, gt_boxes: Tensor, height: int, width: int) -> Tensor:
        """Which cells are positive for each target: (N, 4) xyxy -> (N, H * W) bool."""
        centres = location_centres(height, width, gt_boxes.device)  # (H * W, 2)
        size = torch.tensor([width, height], device=gt_boxes.device)
        gt_centre = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2  # (N, 2)
        centre_cell = (gt_centre * size).floor().clamp(max=size - 1)  # (N, 2) cell indices
        cells = (centres * size).floor()  # (H * W, 2)
        offset = (cells[None] - centre_cell[:, None]).abs().amax(dim=2)  # (N, H * W)
        inside = (centres[None] > gt_boxes[:, None, :2]).all(2) & (
            centres[None] < gt_boxes[:, None, 2:]
        ).all(2)
        return (offset == 0) | ((offset <= self.center_radius) & inside)
