"""A regression head: pooled or tabular features to real-valued predictions."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ablate import HEADS, BaseModule

DEFAULT_LOSS = {"type": "MSELoss"}


@HEADS.register_module()
class RegressionHead(BaseModule):
    """One Linear layer to ``out_dims`` values per sample.

    Args:
        in_channels: Input width; inferred from the sample batch when omitted.
        out_dims: Values predicted per sample; with 1 the output is (N,), like ``targets``.
        loss: Loss of the ``reg`` prefix (reads ``pred`` and ``target``); default ``MSELoss``.
        init_cfg: See ``ablate.nn.weights``.

    Shapes:
        (N, in_channels) (or a tuple whose last entry is that) -> (N,) or (N, out_dims).
    """

    output = "preds"

    def __init__(
        self,
        in_channels: int | None = None,
        out_dims: int = 1,
        loss: dict[str, Any] | None = None,
        init_cfg: dict[str, Any] | list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(init_cfg)
        if in_channels is None:
            raise ValueError(
                "in_channels is required when there is no sample batch to infer it from"
            )
        if out_dims < 1:
            raise ValueError(f"out_dims must be positive, got {out_dims}")
        self.loss_cfg = dict(loss) if loss is not None else dict(DEFAULT_LOSS)
        self.fc = nn.Linear(in_channels, out_dims)

    def forward(self, feats: Any) -> Tensor:
        x = feats[-1] if isinstance(feats, tuple | list) else feats
        if x.dim() != 2:
            raise ValueError(
                f"RegressionHead expects (N, C) features, got {tuple(x.shape)}; add a pooling neck"
            )
        out = self.fc(x)
        return out[:, 0] if out.shape[1] == 1 else out
