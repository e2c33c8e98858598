"""Built-in losses."""

from components.losses import cross_entropy  # noqa: F401
