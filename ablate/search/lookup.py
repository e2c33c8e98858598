"""Which class a ``type:`` names at a config path: a torch optimizer or LR scheduler under
``optimizer``, else whatever component registry holds it. Parsing a space (which arguments a
swapped-in component accepts) and resolving a point both ask; torch is imported only when
the path is an optimizer's.
"""

from __future__ import annotations

import inspect
from typing import Any

from ablate.registry import find_component

#: Keys of a section that are not constructor arguments of its ``type``.
STRUCTURAL = {"optimizer": ("lr_schedule",)}


def component_class(path: str, type_name: str) -> Any:
    """The class ``type_name`` names at ``path``, or None when unknown."""
    if path in ("optimizer", "optimizer.lr_schedule"):
        import torch

        mod = torch.optim if path == "optimizer" else torch.optim.lr_scheduler
        cls = getattr(mod, type_name, None)
        return cls if inspect.isclass(cls) else None
    return find_component(type_name)


__all__ = ["STRUCTURAL", "component_class"]
