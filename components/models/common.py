"""What the task models (localiser, regressor, retrieval net) share: channel inference."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ablate.errors import AblateError
from ablate.nn import sample_inputs


def with_in_channels(cfg: Any, feeder: nn.Module, key: str) -> Any:
    """``cfg`` with ``in_channels`` set to the width of ``feeder``'s last output on the sample
    batch, unless it is given already.

    Raises:
        AblateError: it is omitted and no sample batch is being built with.
    """
    if not isinstance(cfg, dict) or "in_channels" in cfg:
        return cfg
    sample = sample_inputs()
    if sample is None:
        raise AblateError(
            "in_channels omitted and there is no sample batch to infer it from",
            key=f"{key}.in_channels",
        )
    was = feeder.training
    feeder.eval()
    with torch.no_grad():
        feats = feeder(sample)
    feeder.train(was)
    last = feats[-1] if isinstance(feats, tuple | list) else feats
    return {**cfg, "in_channels": int(last.shape[1])}
