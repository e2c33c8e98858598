"""Built-in heads."""

from components.heads import cls_heads  # noqa: F401
