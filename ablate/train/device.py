"""Where a worker trains and how its data gets there: the device, DataLoader settings per
device, the channels-last memory format and ``torch.compile``.

Every choice here falls back to CPU when CUDA is absent, so one config runs on a laptop, on
CI and on a GPU node (where it takes the GPU Ray gave the trial).
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from typing import Any

import torch
from torch import nn

from ablate.settings import DataSettings

#: Loader processes a GPU worker gets by default: enough to keep a small model fed, few
#: enough that packed trials sharing a node do not drown it in processes.
GPU_LOADER_WORKERS = 4


def select_device(use_gpu: bool) -> torch.device:
    """The device of an in-process (single-worker) trial.

    Ray sets ``CUDA_VISIBLE_DEVICES`` of a trial holding a GPU (or a share of one) to that
    GPU, so ``cuda`` is the trial's own. Without CUDA (a CPU build of torch, or a GPU resource
    declared on a machine that has none) the trial trains on CPU rather than failing.
    """
    if use_gpu and torch.cuda.is_available():
        return torch.device("cuda", 0)
    return torch.device("cpu")


def loader_options(data: DataSettings, device: torch.device) -> dict[str, Any]:
    """``DataLoader`` keyword arguments: the config's, else the device's defaults.

    On CPU: no loader processes (the worker's threads are its CPUs), no pinned memory. On a
    GPU: up to :data:`GPU_LOADER_WORKERS` processes (at most the worker's CPU threads),
    pinned memory for asynchronous copies, and workers kept between epochs.
    """
    gpu = device.type == "cuda"
    workers = data.loader_workers
    if workers is None:
        workers = min(GPU_LOADER_WORKERS, max(1, torch.get_num_threads())) if gpu else 0
    pin = data.pin_memory if data.pin_memory is not None else gpu
    persistent = data.persistent_workers
    if persistent is None:
        persistent = workers > 0
    return {"num_workers": workers, "pin_memory": pin, "persistent_workers": persistent}


def to_memory_format(model: nn.Module, channels_last: bool) -> nn.Module:
    """The model in channels-last format when asked (4-d weights only; others are unchanged)."""
    # Module.to accepts memory_format at run time; its typed overloads do not say so.
    return model.to(memory_format=torch.channels_last) if channels_last else model  # type: ignore[call-overload]


def batch_to_channels_last(batch: dict[str, Any]) -> dict[str, Any]:
    """Every 4-d tensor of a batch (images, ``(N, C, H, W)``) in channels-last format."""
    return {
        k: v.contiguous(memory_format=torch.channels_last)
        if isinstance(v, torch.Tensor) and v.dim() == 4
        else v
        for k, v in batch.items()
    }


def compiler_missing() -> str | None:
    """Why ``torch.compile`` cannot compile here, or None. On CPU, inductor writes C++ and
    needs a compiler (``CXX``, or ``g++``/``clang++``/``c++`` on ``PATH``)."""
    names = [os.environ.get("CXX", ""), "g++", "clang++", "c++"]
    if any(n and shutil.which(n) for n in names):
        return None
    return "no C++ compiler on PATH (torch.compile's inductor needs one on CPU)"


def maybe_compile(net: nn.Module, enabled: bool) -> nn.Module:
    """``torch.compile(net)`` when enabled; the eager module otherwise."""
    return torch.compile(net) if enabled else net  # type: ignore[return-value]


def eager_optimizer_methods(cls: type[torch.optim.Optimizer] | None = None) -> None:
    """Let torch's optimizers be built and stepped without importing ``torch._dynamo``
    (1.0 s of CPU in every process here, 1.5 to 3 s while a sweep starts on 2 cores): for the
    dry builds of ``ablate plan`` and for every trial, which never run an optimizer inside a
    compiled region (``train.compile`` compiles the model's forward only).

    - ``Optimizer.add_param_group`` (called by every constructor), ``zero_grad``,
      ``state_dict`` and ``load_state_dict`` are wrapped by ``torch._disable_dynamo``
      (``torch/_compile.py``), which imports ``torch._dynamo`` on the first call to build a
      version that ``torch.compile`` will not trace, and caches it on the function as
      ``__dynamo_disable``. Outside a compiled region that version just calls the function,
      so the function itself goes in that cache.
    - ``cls.step``, where torch wraps it with ``_use_grad_for_differentiable`` (SGD, Adam,
      AdamW and most of ``torch.optim``): that wrapper imports ``torch._dynamo`` on every call
      for two ``graph_break()`` calls, which do nothing outside a compiled region. The step
      gets a wrapper that does the rest the same way (grad mode from
      ``defaults["differentiable"]``, restored afterwards), inside torch's own step hooks.

    Both last for the process, which may go on to compile its model's forward
    (``train.compile``) or run more trials: ablate never compiles an optimizer step, the
    one place where torch's ``graph_break()`` calls do something. A process that imported
    ``torch._dynamo`` before its first optimizer was built keeps torch's wrappers.
    """
    if "torch._dynamo" in sys.modules:
        return
    wrapper = torch._disable_dynamo(_nothing).__code__  # wrapping imports nothing yet
    for attr in vars(torch.optim.Optimizer).values():
        fn = getattr(attr, "__wrapped__", None)
        if fn is not None and getattr(attr, "__code__", None) is wrapper:
            fn.__dynamo_disable = fn
    if cls is not None:
        _eager_step(cls)


def _eager_step(cls: type[torch.optim.Optimizer]) -> None:
    """Give ``cls`` (or the base class it takes ``step`` from) a ``step`` without torch's
    ``_use_grad_for_differentiable`` wrapper and its ``torch._dynamo`` import; leave any other
    ``step`` alone. Idempotent."""
    from torch.optim.optimizer import _use_grad_for_differentiable

    use_grad = _use_grad_for_differentiable(_nothing).__code__
    owner = next((k for k in cls.__mro__ if "step" in vars(k)), None)
    if owner is None:
        return
    step = vars(owner)["step"]
    hooked = bool(getattr(step, "hooked", False))  # torch's profile_hook_step, put on at init
    inner = step.__wrapped__ if hooked else step
    if getattr(inner, "__code__", None) is not use_grad:
        return
    real = inner.__wrapped__

    @functools.wraps(real)
    def eager_step(*args: Any, **kwargs: Any) -> Any:
        prev = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(args[0].defaults["differentiable"])
            return real(*args, **kwargs)
        finally:
            torch.set_grad_enabled(prev)

    if hooked:
        hooked_step = torch.optim.Optimizer.profile_hook_step(eager_step)
        hooked_step.hooked = True  # type: ignore[attr-defined]
        setattr(owner, "step", hooked_step)  # noqa: B010  (owner is a plain type to mypy)
    else:
        setattr(owner, "step", eager_step)  # noqa: B010


def _nothing() -> None:
    """A function to wrap, to learn what ``torch._disable_dynamo``'s wrapper looks like."""


__all__ = [
    "GPU_LOADER_WORKERS",
    "batch_to_channels_last",
    "compiler_missing",
    "eager_optimizer_methods",
    "loader_options",
    "maybe_compile",
    "select_device",
    "to_memory_format",
]
