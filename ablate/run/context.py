"""What every trial of a sweep shares (:class:`TrialContext`), and what a trial process
does with it before it trains: the driver's ``custom_imports``, the trial's resolved config.

Free of torch, like :mod:`ablate.run.trial`: what the driver ships to a trial is plain data
and the trainable's name; torch and the loop are :mod:`ablate.run.training`'s.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablate.layout import checkpoint_file, split_params
from ablate.registry import load_plugins
from ablate.search.resolve import cell_id, resolve
from ablate.search.space import Point, Space


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a sweep shares; shipped once through the object store."""

    sweep: str
    file: str
    base: dict[str, Any]
    space: Space
    imports: list[str]
    inline: bool
    num_workers: int
    use_gpu: bool
    worker: dict[str, float]
    placement_strategy: str
    train_max_failures: int
    storage_path: str
    trial_timeout: float | None
    sys_path: list[str] = field(default_factory=list)
    rungs: tuple[int, ...] = ()  # epochs the scheduler judges at: always checkpointed

    def checkpoint(self, name: str) -> Path:
        """Where a trial keeps its checkpoint (:func:`ablate.layout.checkpoint_file`).

        ablate owns this file rather than handing checkpoints to Tune: Tune's experiment
        state can point at a checkpoint it already rotated away when the driver is killed,
        and then the trial cannot be restored at all.
        """
        return checkpoint_file(self.storage_path, self.sweep, name)


def import_plugins(ctx: TrialContext) -> None:
    """Make the driver's ``custom_imports`` importable and imported in this process."""
    for p in reversed(ctx.sys_path):
        if p not in sys.path:
            sys.path.insert(0, p)
    load_plugins()
    for name in ctx.imports:
        importlib.import_module(name)


def trial_config(
    ctx: TrialContext, params: dict[str, Any]
) -> tuple[dict[str, Any], Point, int, str]:
    point, seed = split_params(params)
    resolved = resolve(ctx.base, ctx.space, point, seed)
    return resolved, point, seed, cell_id(resolved)


__all__ = ["TrialContext", "import_plugins", "trial_config"]
