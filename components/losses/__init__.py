"""Built-in losses."""

from ablate_components.losses import cross_entropy, focal, l1, triplet  # noqa: F401
