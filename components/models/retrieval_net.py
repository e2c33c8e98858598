"""Retrieval, OpenGait's Baseline in miniature: backbone -> neck -> BNNeck head, trained with
triplet and/or softmax losses and judged by probe/gallery rank-k and mAP."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ablate import BACKBONES, HEADS, MODELS, NECKS
from ablate.nn import BaseModel, Batch, ModelOutput, validate_init_cfg
from ablate_components.models.common import with_in_channels


@MODELS.register_module()
class RetrievalNet(BaseModel):
    """Embeds images so that one identity's images lie close together.

    ``training_feat`` holds one entry per loss the head configures: ``triplet``
    (``embeddings``, ``labels``) and ``softmax`` (``logits``, ``labels``). A top-level
    OpenGait ``losses:`` list may replace them; its ``log_prefix`` values must name the
    same entries.

    Args:
        backbone: Backbone config.
        head: Head config (``BNNeckHead``); ``in_channels`` is inferred when omitted.
        neck: Pooling neck config, or None.
        init_cfg: Initialiser(s) for the whole model.

    ``inference_feat`` holds ``embeddings`` (N, embed_dims), before the BNNeck. Labels the
    classifier does not know (val and test identities) weigh 0 in the softmax loss.
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
        self.losses_key = {
            "triplet": "model.head.loss_triplet",
            "softmax": "model.head.loss_softmax",
        }

    def forward(self, batch: Batch) -> ModelOutput:
        feats = self.backbone(batch["inputs"])
        embeddings, logits = self.head(feats if self.neck is None else self.neck(feats))
        labels = batch["labels"]
        entries = {
            "triplet": {"embeddings": embeddings, "labels": labels},
            "softmax": self._softmax_entry(logits, labels),
        }
        return {
            "training_feat": {k: v for k, v in entries.items() if k in self.head.loss_cfgs},
            "visual_summary": {},
            "inference_feat": {"embeddings": embeddings},
        }

    @staticmethod
    def _softmax_entry(logits: Tensor | None, labels: Tensor) -> dict[str, Any]:
        """The softmax loss's inputs. Val and test hold identities the classifier never saw
        (labels >= its classes): those get weight 0, so the softmax term of ``val/loss`` is
        0 and its triplet term still measures the embedding on them."""
        if logits is None:
            return {}
        known = labels < logits.shape[1]
        if bool(known.all()):
            return {"logits": logits, "labels": labels}
        return {
            "logits": logits,
            "labels": labels.where(known, 0),
            "weight": known.to(logits.dtype),
        }

    def default_losses(self) -> list[dict[str, Any]] | None:
        return [{**cfg, "log_prefix": prefix} for prefix, cfg in self.head.loss_cfgs.items()]
