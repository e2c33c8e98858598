"""Regression: backbone -> optional neck -> a regression head, judged by MSE and R²."""

from __future__ import annotations

from typing import Any

from torch import nn

from ablate import BACKBONES, HEADS, MODELS, NECKS
from ablate.nn import BaseModel, Batch, ModelOutput, validate_init_cfg
from ablate_components.models.common import with_in_channels


@MODELS.register_module()
class Regressor(BaseModel):
    """Predicts the batch's ``targets``; the head's ``loss`` is the model's (prefix ``reg``).

    Args:
        backbone: Backbone config (``MLP`` for tabular inputs).
        head: Head config (``RegressionHead``); ``in_channels`` is inferred when omitted.
        neck: Neck config, or None to feed the backbone's output to the head.
        init_cfg: Initialiser(s) for the whole model.

    Batches need ``inputs`` and ``targets`` (N,) or (N, D), matching the head's ``out_dims``.
    ``inference_feat`` holds ``preds`` of the targets' shape.
    """

    def __init__(
        self,
        backbone: dict[str, Any],
        head: dict[str, Any],
        neck: dict[str, Any] | None = None,
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        validate_init_cfg(init_cfg)
        self.init_cfg = init_cfg
        self.backbone = BACKBONES.build(backbone, key="backbone")
        self.neck = None if neck is None else NECKS.build(neck, key="neck")
        feeder = self.backbone if self.neck is None else nn.Sequential(self.backbone, self.neck)
        self.head = HEADS.build(with_in_channels(head, feeder, "model.head"), key="head")
        self.losses_key = "model.head.loss"

    def forward(self, batch: Batch) -> ModelOutput:
        feats = self.backbone(batch["inputs"])
        preds = self.head(feats if self.neck is None else self.neck(feats))
        return {
            "training_feat": {"reg": {"pred": preds, "target": batch["targets"]}},
            "visual_summary": {},
            "inference_feat": {"preds": preds},
        }

    def default_losses(self) -> list[dict[str, Any]] | None:
        return [{**self.head.loss_cfg, "log_prefix": "reg"}]
