"""OpenGait's embedding head with a BNNeck: an embedding for the triplet loss and, after
BatchNorm, logits for the softmax loss (Luo et al., 2019, "Bag of tricks")."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ablate import HEADS, BaseModule

DEFAULT_TRIPLET = {"type": "TripletLoss", "margin": 0.2}
DEFAULT_SOFTMAX = {"type": "CrossEntropyLoss", "loss_term_weight": 0.1}


@HEADS.register_module()
class BNNeckHead(BaseModule):
    """Linear -> embedding (triplet, retrieval); BatchNorm -> Linear -> logits (softmax).

    Each loss is a branch: ``loss_triplet`` trains the embedding (prefix ``triplet``),
    ``loss_softmax`` the logits (prefix ``softmax``), with OpenGait's
    ``loss_term_weight`` inside each config. Set one to null to train without it; with
    ``loss_softmax: null`` the classifier is not built at all.

    Args:
        num_classes: Identities in the training split.
        in_channels: Input width; inferred from the sample batch when omitted.
        embed_dims: Embedding width.
        loss_triplet: Loss of the ``triplet`` prefix, or None.
        loss_softmax: Loss of the ``softmax`` prefix, or None.
        init_cfg: See ``ablate.nn.weights``.

    Shapes:
        (N, in_channels) (or a tuple whose last entry is that) ->
        ``(embeddings (N, embed_dims), logits (N, num_classes) or None)``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int | None = None,
        embed_dims: int = 64,
        loss_triplet: dict[str, Any] | None = DEFAULT_TRIPLET,
        loss_softmax: dict[str, Any] | None = DEFAULT_SOFTMAX,
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if in_channels is None:
            raise ValueError(
                "in_channels is required when there is no sample batch to infer it from"
            )
        if loss_triplet is None and loss_softmax is None:
            raise ValueError("loss_triplet and loss_softmax are both null: nothing would train")
        if num_classes < 2 or embed_dims < 1:
            raise ValueError(
                f"need num_classes >= 2 and embed_dims >= 1, got {num_classes}, {embed_dims}"
            )
        self.loss_cfgs = {
            prefix: dict(cfg)
            for prefix, cfg in (("triplet", loss_triplet), ("softmax", loss_softmax))
            if cfg is not None
        }
        self.fc = nn.Linear(in_channels, embed_dims)
        self.bn = self.classifier = None
        if loss_softmax is not None:
            self.bn = nn.BatchNorm1d(embed_dims)
            self.classifier = nn.Linear(embed_dims, num_classes, bias=False)

    def forward(self, feats: Any) -> tuple[Tensor, Tensor | None]:
        x = feats[-1] if isinstance(feats, tuple | list) else feats
        if x.dim() != 2:
            raise ValueError(
                f"BNNeckHead expects pooled (N, C) features, got {tuple(x.shape)}; add a pooling neck"
            )
        emb = self.fc(x)
        if self.classifier is None or self.bn is None:
            return emb, None
        return emb, self.classifier(self.bn(emb))
