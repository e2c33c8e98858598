"""An embedding head for metric learning: its output is ``embeddings``, not logits."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ablate import HEADS, BaseModule

DEFAULT_LOSS = {"type": "TripletLoss"}


@HEADS.register_module()
class EmbeddingHead(BaseModule):
    """A Linear projection to ``embed_dims``, optionally L2-normalised.

    Because ``output = "embeddings"``, ``ImageClassifier`` returns
    ``training_feat: {cls: {embeddings, labels}}`` and ``inference_feat: {embeddings}``, and
    validation reports nearest-neighbour rank-1 accuracy instead of top-k.

    Args:
        in_channels: Input width; inferred from the sample batch when omitted.
        embed_dims: Embedding width D.
        normalize: L2-normalise each embedding (distances then lie in [0, 2]).
        loss: Loss config for the ``cls`` prefix; default ``TripletLoss``.
        init_cfg: See ``ablate.nn.weights``.

    Shapes:
        (N, in_channels) (or a tuple whose last entry is that) -> (N, embed_dims).
    """

    output = "embeddings"

    def __init__(
        self,
        in_channels: int | None = None,
        embed_dims: int = 128,
        normalize: bool = True,
        loss: dict[str, Any] | None = None,
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if in_channels is None:
            raise ValueError(
                "in_channels is required when there is no sample batch to infer it from"
            )
        if embed_dims < 1:
            raise ValueError(f"embed_dims must be positive, got {embed_dims}")
        self.loss_cfg = dict(loss) if loss is not None else dict(DEFAULT_LOSS)
        self.normalize = normalize
        self.fc = nn.Linear(in_channels, embed_dims)

    def pre_logits(self, feats: Any) -> Tensor:
        """The last stage's pooled features, (N, in_channels)."""
        x = feats[-1] if isinstance(feats, tuple | list) else feats
        if x.dim() != 2:
            raise ValueError(
                f"EmbeddingHead expects pooled (N, C) features, got {tuple(x.shape)}; add a pooling neck"
            )
        return x

    def forward(self, feats: Any) -> Tensor:
        x = self.fc(self.pre_logits(feats))
        return F.normalize(x, dim=1) if self.normalize else x
