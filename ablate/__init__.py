"""ablate: component ablations and hyperparameter search for PyTorch models.

Plugin authors import everything they need from here::

    from ablate import BACKBONES, NECKS, HEADS, LOSSES, DATASETS, MODELS
    from ablate import BaseModel, BaseLoss, weighted_loss, gather_and_scale
"""

from ablate.errors import AblateError
from ablate.init import BaseModule
from ablate.losses import BaseLoss, gather_and_scale, weight_reduce_loss, weighted_loss
from ablate.models import BaseModel, LossAggregator
from ablate.registry import BACKBONES, DATASETS, HEADS, LOSSES, MODELS, NECKS, Registry

__version__ = "0.1.0"

__all__ = [
    "BACKBONES",
    "DATASETS",
    "HEADS",
    "LOSSES",
    "MODELS",
    "NECKS",
    "AblateError",
    "BaseLoss",
    "BaseModel",
    "BaseModule",
    "LossAggregator",
    "Registry",
    "gather_and_scale",
    "weight_reduce_loss",
    "weighted_loss",
]
