"""Built-in metrics: classification, regression, retrieval and single-object boxes."""

from ablate_components.metrics import boxes, classification, regression, retrieval  # noqa: F401
