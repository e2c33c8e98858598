"""Built-in losses."""

from ablate_components.losses import (  # noqa: F401
    cross_entropy,
    focal,
    iou,
    l1,
    regression,
    triplet,
)
