"""Built-in metrics: classification, regression, retrieval and single-object boxes."""

# ablate's metric base first: it imports torchmetrics faster than these modules would
from ablate import BaseMetric  # noqa: F401
from ablate_components.metrics import boxes, classification, regression, retrieval  # noqa: F401
