"""mmpretrain-style ``ImageClassifier``: backbone -> neck -> head, on the ablate model contract."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ablate import BACKBONES, HEADS, MODELS, NECKS
from ablate.errors import AblateError
from ablate.nn import BaseModel, Batch, ModelOutput, sample_inputs, validate_init_cfg
from ablate.nn.heads import HeadLoss, as_topk, owns_loss
from ablate.signature import accepts


def _shape(feats: Any) -> str:
    if isinstance(feats, tuple | list):
        return "(" + ", ".join(str(tuple(f.shape)) for f in feats) + ")"
    return str(tuple(feats.shape))


def _channels(feats: Any) -> int:
    last = feats[-1] if isinstance(feats, tuple | list) else feats
    return int(last.shape[1])


@MODELS.register_module()
class ImageClassifier(BaseModel):
    """Backbone -> optional neck -> head.

    The backbone returns a tuple of stage outputs; the neck maps that tuple to pooled
    features; the head maps them to logits (or embeddings). A neck's or head's omitted
    ``in_channels`` is inferred from a dry forward on the sample batch, so swapping a
    backbone never means editing the head.

    Args:
        backbone: Backbone config.
        head: Head config; its ``loss`` becomes the model's default loss (prefix ``cls``),
            called positionally as ``loss(cls_score, target)``. A head that owns its loss
            (mmpretrain's ``loss(feats, targets)`` and ``predict(feats)``) computes it itself.
        neck: Neck config, or None to feed the backbone's output to the head.
        init_cfg: Initialiser(s) for the whole model.
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
        sample = sample_inputs()
        feats = self._stage(sample, "backbone", self.backbone, None)
        self.neck = None
        if neck is not None:
            neck = self._infer_in_channels(neck, NECKS, "neck", feats, "backbone")
            self.neck = NECKS.build(neck, key="neck")
            feats = self._stage(feats, "neck", self.neck, "backbone")
        feeder = "neck" if self.neck is not None else "backbone"
        head = self._infer_in_channels(head, HEADS, "head", feats, feeder)
        self.head = HEADS.build(head, key="head")
        out = self._stage(feats, "head", self.head, feeder)
        if out is not None and not isinstance(out, Tensor):
            raise AblateError(
                f"head {type(self.head).__name__} must return a tensor, got {type(out).__name__}",
                key="model.head",
            )
        self.topk = as_topk(getattr(self.head, "topk", (1, 5)))
        self.head_owns_loss = owns_loss(self.head)
        self.losses_key = "model.head.loss"

    def _infer_in_channels(
        self, cfg: dict[str, Any], registry: Any, slot: str, feats: Any, feeder: str
    ) -> dict[str, Any]:
        if not isinstance(cfg, dict) or "in_channels" in cfg or "type" not in cfg:
            return cfg
        if not accepts(registry.get(cfg["type"], key=f"model.{slot}.type"), "in_channels"):
            return cfg
        if feats is None:
            raise AblateError(
                f"in_channels omitted and there is no sample batch to infer it from (the {feeder} output)",
                key=f"model.{slot}.in_channels",
            )
        return {**cfg, "in_channels": _channels(feats)}

    def _stage(self, feats: Any, slot: str, module: Any, feeder: str | None) -> Any:
        """Run one stage on the sample; a failure names both components and the shapes."""
        if feats is None:
            return None
        try:
            was = module.training
            module.eval()
            out = module(feats)
            module.train(was)
            return out
        except (RuntimeError, ValueError, IndexError) as err:
            reason = str(err).strip().splitlines()[0]
            if feeder is None:
                msg = f"backbone {type(module).__name__} fails on inputs {_shape(feats)}: {reason}"
            else:
                src = getattr(self, feeder)
                msg = (
                    f"incompatible shapes: model.{feeder} ({type(src).__name__}) outputs {_shape(feats)} "
                    f"but model.{slot} ({type(module).__name__}) cannot take it: {reason}"
                )
            raise AblateError(msg, key=f"model.{slot}") from None

    def extract_feat(self, inputs: Tensor) -> Any:
        feats = self.backbone(inputs)
        return self.neck(feats) if self.neck is not None else feats

    def forward(self, batch: Batch) -> ModelOutput:
        feats, labels = self.extract_feat(batch["inputs"]), batch["labels"]
        kind = getattr(self.head, "output", "logits")
        if self.head_owns_loss:
            predict = getattr(self.head, "predict", self.head)
            out = predict(feats)
            if not isinstance(out, Tensor):
                raise AblateError(
                    f"{type(self.head).__name__}.predict must return scores (N, C) as a "
                    f"tensor, got {type(out).__name__}",
                    key="model.head",
                )
            training_feat = {"cls": {"losses": self.head.loss(feats, labels)}}
        else:
            out = self.head(feats)
            training_feat = {"cls": {kind: out, "labels": labels}}
        return {
            "training_feat": training_feat,
            "visual_summary": self._train_accuracy(out, labels),
            "inference_feat": {kind: out},
        }

    def _train_accuracy(self, scores: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """mmpretrain's ``cal_acc``: training top-k accuracy, logged as ``train/accuracy_top-k``."""
        if not getattr(self.head, "cal_acc", False) or self.head_owns_loss or labels.dim() != 1:
            return {}
        ranked = scores.detach().topk(min(max(self.topk), scores.shape[1]), dim=1).indices
        hits = ranked == labels[:, None]
        return {
            f"accuracy_top-{k}": 100.0 * hits[:, :k].any(dim=1).float().mean() for k in self.topk
        }

    def default_losses(self) -> list[dict[str, Any]] | None:
        if self.head_owns_loss:
            return [{"type": HeadLoss, "log_prefix": "cls"}]
        loss = getattr(self.head, "loss_cfg", None)
        return None if loss is None else [{**loss, "log_prefix": "cls"}]
