"""The model contracts component authors build on: :class:`BaseModel` (OpenGait's), the
:class:`LossAggregator`, loss helpers (``weighted_loss``, ``gather_and_scale``) and weight
initialisation from ``init_cfg``. torch lives here and below; Ray does not.
"""

from ablate.nn.losses import BaseLoss, gather_and_scale, weight_reduce_loss, weighted_loss
from ablate.nn.model import BaseModel, Batch, LossAggregator, ModelOutput, sample_inputs
from ablate.nn.weights import BaseModule, validate_init_cfg

__all__ = [
    "BaseLoss",
    "BaseModel",
    "BaseModule",
    "Batch",
    "LossAggregator",
    "ModelOutput",
    "gather_and_scale",
    "sample_inputs",
    "validate_init_cfg",
    "weight_reduce_loss",
    "weighted_loss",
]
