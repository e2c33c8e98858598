"""Built-in samplers of training batches."""

from ablate_components.samplers import triplet  # noqa: F401
