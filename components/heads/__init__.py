"""Built-in heads."""

from ablate_components.heads import (  # noqa: F401
    bnneck_head,
    cls_heads,
    dense_box_head,
    embedding_head,
    regression_head,
    stacked_linear_head,
    vit_head,
)
