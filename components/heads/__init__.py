"""Built-in heads."""

from ablate_components.heads import (  # noqa: F401
    cls_heads,
    embedding_head,
    stacked_linear_head,
    vit_head,
)
