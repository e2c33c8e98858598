"""Single-object localisation: backbone -> a head with a classification and a box branch,
trained with mmtracking-style ``loss_cls`` and ``loss_bbox``."""

from __future__ import annotations

from typing import Any

import torch

from ablate import BACKBONES, HEADS, MODELS
from ablate.nn import BaseModel, Batch, ModelOutput, validate_init_cfg
from ablate_components.models.common import with_in_channels


@MODELS.register_module()
class SingleObjectLocalizer(BaseModel):
    """Finds the one target in an image and returns its box.

    The head (``DenseBoxHead``) scores every cell of the backbone's last feature map and
    predicts a box from each; its ``loss_cls`` trains the scores (prefix ``cls``), its
    ``loss_bbox`` the boxes of the positive cells (prefix ``bbox``). A top-level
    ``losses:`` list with the same prefixes replaces both.

    Args:
        backbone: Backbone config; its last output must be a feature map (N, C, H, W).
        head: Head config; an omitted ``in_channels`` is inferred from the backbone.
        init_cfg: Initialiser(s) for the whole model.

    Batches need ``inputs`` (N, C, H, W) and ``gt_boxes`` (N, 4) xyxy in [0, 1].
    ``inference_feat`` holds ``boxes`` (N, 4) xyxy in [0, 1] and ``scores`` (N,).
    """

    def __init__(
        self,
        backbone: dict[str, Any],
        head: dict[str, Any],
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        validate_init_cfg(init_cfg)
        self.init_cfg = init_cfg
        self.backbone = BACKBONES.build(backbone, key="backbone")
        self.head = HEADS.build(with_in_channels(head, self.backbone, "model.head"), key="head")
        # Errors in a loss name its own config path (model.head.loss_bbox.eps).
        self.losses_key = {"cls": "model.head.loss_cls", "bbox": "model.head.loss_bbox"}

    def forward(self, batch: Batch) -> ModelOutput:
        feats = self.backbone(batch["inputs"])
        cls_score, distances = self.head(feats)
        n, _, h, w = cls_score.shape
        logits = cls_score.permute(0, 2, 3, 1).reshape(n * h * w, 2)
        boxes = self.head.decode(distances)  # (N, H * W, 4)
        scores = logits[:, 1].sub(logits[:, 0]).view(n, h * w)
        best = scores.argmax(dim=1)
        pred_boxes = boxes[torch.arange(n), best].clamp(0.0, 1.0)
        out: ModelOutput = {
            "training_feat": {},
            "visual_summary": {},
            "inference_feat": {"boxes": pred_boxes, "scores": scores.amax(dim=1).sigmoid()},
        }
        gt = batch.get("gt_boxes")
        if gt is not None:
            pos = self.head.positives(gt.to(boxes.dtype), h, w)  # (N, H * W)
            sample_of = torch.arange(n, device=gt.device)[:, None].expand(n, h * w)
            out["training_feat"] = {
                "cls": {"logits": logits, "labels": pos.reshape(-1).long()},
                "bbox": {"pred": boxes[pos], "target": gt[sample_of[pos]].to(boxes.dtype)},
            }
        return out

    def default_losses(self) -> list[dict[str, Any]] | None:
        return [
            {**self.head.loss_cls_cfg, "log_prefix": "cls"},
            {**self.head.loss_bbox_cfg, "log_prefix": "bbox"},
        ]
