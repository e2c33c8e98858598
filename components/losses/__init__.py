"""Built-in losses."""

from components.losses import cross_entropy, focal, l1, triplet  # noqa: F401
