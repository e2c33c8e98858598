"""ablate: component ablations and hyperparameter search for PyTorch models.

Plugin authors import everything they need from here::

    from ablate import BACKBONES, NECKS, HEADS, LOSSES, DATASETS, MODELS
    from ablate import BaseModel, BaseLoss, weighted_loss, gather_and_scale
    from ablate import SAMPLERS, BaseSampler  # batches of training items (data.sampler)
    from ablate import TensorItems  # in-memory tensors, fetched a batch at a time
    from ablate import METRICS, BaseMetric

and, to extend ablate itself, the extension points (``docs/extending.md``)::

    from ablate import STRATEGIES, Strategy, SCHEDULERS, Scheduler, SECTIONS, ReportSection

Names are imported on first use (PEP 562), so ``import ablate`` (and ``ablate --help``)
stays light: torch comes with the model contracts, not before.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "AblateError": "ablate.errors",
    "BACKBONES": "ablate.registry",
    "DATASETS": "ablate.registry",
    "HEADS": "ablate.registry",
    "LOSSES": "ablate.registry",
    "METRICS": "ablate.registry",
    "MODELS": "ablate.registry",
    "NECKS": "ablate.registry",
    "SAMPLERS": "ablate.registry",
    "Registry": "ablate.registry",
    "BaseLoss": "ablate.nn.losses",
    "gather_and_scale": "ablate.nn.losses",
    "gather_and_scale_wrapper": "ablate.nn.losses",
    "weight_reduce_loss": "ablate.nn.losses",
    "weighted_loss": "ablate.nn.losses",
    "BaseMetric": "ablate.train.metrics",
    "BaseModel": "ablate.nn.model",
    "LossAggregator": "ablate.nn.model",
    "BaseModule": "ablate.nn.weights",
    "BaseSampler": "ablate.train.sampling",
    "TensorItems": "ablate.train.batching",
    "HeadLoss": "ablate.nn.heads",
    "build_conv_layer": "ablate.nn.layers",
    "build_norm_layer": "ablate.nn.layers",
    "STRATEGIES": "ablate.search.strategies",
    "Strategy": "ablate.search.strategies",
    "SCHEDULERS": "ablate.search.schedulers",
    "Scheduler": "ablate.search.schedulers",
    "SECTIONS": "ablate.report.sections",
    "ReportSection": "ablate.report.sections",
}

__all__ = [
    "BACKBONES",
    "DATASETS",
    "HEADS",
    "LOSSES",
    "METRICS",
    "MODELS",
    "NECKS",
    "SAMPLERS",
    "SCHEDULERS",
    "SECTIONS",
    "STRATEGIES",
    "AblateError",
    "BaseLoss",
    "BaseMetric",
    "BaseModel",
    "BaseModule",
    "BaseSampler",
    "HeadLoss",
    "LossAggregator",
    "Registry",
    "ReportSection",
    "Scheduler",
    "Strategy",
    "TensorItems",
    "build_conv_layer",
    "build_norm_layer",
    "gather_and_scale",
    "gather_and_scale_wrapper",
    "weight_reduce_loss",
    "weighted_loss",
]

if TYPE_CHECKING:
    from ablate.errors import AblateError
    from ablate.nn.heads import HeadLoss
    from ablate.nn.layers import build_conv_layer, build_norm_layer
    from ablate.nn.losses import (
        BaseLoss,
        gather_and_scale,
        gather_and_scale_wrapper,
        weight_reduce_loss,
        weighted_loss,
    )
    from ablate.nn.model import BaseModel, LossAggregator
    from ablate.nn.weights import BaseModule
    from ablate.registry import (
        BACKBONES,
        DATASETS,
        HEADS,
        LOSSES,
        METRICS,
        MODELS,
        NECKS,
        SAMPLERS,
        Registry,
    )
    from ablate.report.sections import SECTIONS, ReportSection
    from ablate.search.schedulers import SCHEDULERS, Scheduler
    from ablate.search.strategies import STRATEGIES, Strategy
    from ablate.train.batching import TensorItems
    from ablate.train.metrics import BaseMetric
    from ablate.train.sampling import BaseSampler


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        # A submodule (``ablate.registry``), as an eager package would have it imported.
        if importlib.util.find_spec(f"ablate.{name}") is None:
            raise AttributeError(f"module 'ablate' has no attribute {name!r}")
        return importlib.import_module(f"ablate.{name}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
