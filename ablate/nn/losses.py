"""Loss building blocks for component authors: ``BaseLoss``, ``weighted_loss``, ``gather_and_scale``.

``weighted_loss`` follows mmpretrain: an elementwise loss function gains ``weight``,
``reduction`` (``none``/``mean``/``sum``) and ``avg_factor``. ``gather_and_scale`` follows
OpenGait's ``gather_and_scale_wrapper``: gather features from every DDP rank before a pairwise
loss and scale by the world size, so DDP's gradient averaging leaves the right gradient.
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ablate.nn.opengait import remember
from ablate.registry import LOSSES

LossOutput = Tensor | tuple[Tensor, dict[str, Any]]

REDUCTIONS = ("none", "mean", "sum")


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def weight_reduce_loss(
    loss: Tensor,
    weight: Tensor | None = None,
    reduction: str = "mean",
    avg_factor: float | None = None,
) -> Tensor:
    """Apply an elementwise weight, then reduce; ``avg_factor`` replaces the element count.

    Args:
        loss: Elementwise loss, shape (N, ...).
        weight: Broadcastable to ``loss``.
        reduction: ``none``, ``mean`` or ``sum``.
        avg_factor: With ``mean``, divide the sum by this instead of ``loss.numel()``.
    """
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return reduce_loss(loss, reduction)
    if reduction == "mean":
        return loss.sum() / (avg_factor + torch.finfo(loss.dtype).eps)
    if reduction == "none":
        return loss
    raise ValueError('avg_factor can only be used with reduction="mean" or "none"')


def weighted_loss(loss_func: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Decorate an elementwise ``loss_func(pred, target, **kw)`` with weight and reduction.

    The decorated function takes ``(pred, target, weight=None, reduction='mean',
    avg_factor=None, **kw)``, as mmpretrain's.
    """

    @functools.wraps(loss_func)
    def wrapper(
        pred: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        reduction: str = "mean",
        avg_factor: float | None = None,
        **kwargs: Any,
    ) -> Tensor:
        return weight_reduce_loss(loss_func(pred, target, **kwargs), weight, reduction, avg_factor)

    return wrapper


class BaseLoss(nn.Module):
    """Base of every loss. ``forward`` takes the tensors of one ``training_feat`` entry.

    Lifecycle: built once from the ``losses:`` list (or a head's ``loss:``); called each step
    with the keyword tensors its ``log_prefix`` entry holds; returns a loss, or ``(loss,
    info)`` where ``info`` holds extra values to log under the prefix. A loss may be a
    scalar or a per-part vector (p,) (OpenGait's); the aggregator takes its mean.

    Args:
        loss_weight: Scale of this loss, applied by the loss itself (mmpretrain's habit).
        reduction: Default reduction, overridable per call with ``reduction_override``.
        loss_term_weight: The term's weight in the total, applied by the aggregator
            (OpenGait's). The aggregator sets it from the config's ``loss_term_weight``.

    Attributes:
        info: An ordered dict a loss may fill with values to log and return as its info,
            as OpenGait's losses do (``return loss, self.info``).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        remember(LOSSES, cls)

    def __init__(
        self,
        loss_weight: float = 1.0,
        reduction: str = "mean",
        *,
        loss_term_weight: float | None = None,
    ) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        params = inspect.signature(type(self).__init__).parameters
        if (
            loss_term_weight is None
            and "loss_term_weight" in params
            and "loss_weight" not in params
        ):
            # An OpenGait-style loss: its constructor names loss_term_weight, not loss_weight,
            # and passes it on positionally (``super().__init__(loss_term_weight)``).
            loss_term_weight, loss_weight = loss_weight, 1.0
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.loss_term_weight = 1.0 if loss_term_weight is None else float(loss_term_weight)
        self.info: OrderedDict[str, Any] = OrderedDict()

    def pick_reduction(self, reduction_override: str | None) -> str:
        if reduction_override is not None and reduction_override not in REDUCTIONS:
            raise ValueError(
                f"reduction_override must be one of {REDUCTIONS}, got {reduction_override!r}"
            )
        return reduction_override or self.reduction


def _all_gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` from every rank along dim 0; this rank's slice keeps its gradient."""
    world = dist.get_world_size()
    sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([x.shape[0]], device=x.device))
    max_n = int(max(s.item() for s in sizes))
    padded = torch.zeros((max_n, *x.shape[1:]), dtype=x.dtype, device=x.device)
    padded[: x.shape[0]] = x.detach()
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    rank = dist.get_rank()
    out = [p[: int(n.item())] for p, n in zip(parts, sizes)]
    out[rank] = x
    return torch.cat(out, dim=0)


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_and_scale(forward: Callable[..., LossOutput]) -> Callable[..., LossOutput]:
    """Decorate a loss ``forward(self, **tensors)``: gather every tensor kwarg across ranks,
    compute the loss on the whole batch, and multiply it by the world size.

    DDP averages gradients over ranks; each rank's loss covers the global batch, so scaling
    by the world size makes the averaged gradient equal to the single-process one.
    Outside DDP it is the identity.
    """

    signature = inspect.signature(forward)

    @functools.wraps(forward)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> LossOutput:
        if not distributed():
            return forward(self, *args, **kwargs)
        # Bind positionals to their names, so a positional call is gathered too.
        bound = signature.bind(self, *args, **kwargs)
        named: dict[str, Any] = {}
        for k, v in bound.arguments.items():
            if signature.parameters[k].kind is inspect.Parameter.VAR_KEYWORD:
                named.update(v)
            elif k != "self":
                named[k] = v
        gathered = {
            k: _all_gather_with_grad(v) if isinstance(v, Tensor) else v for k, v in named.items()
        }
        out = forward(self, **gathered)
        loss, info = out if isinstance(out, tuple) else (out, None)
        world = dist.get_world_size()
        # The gradient is world * d(loss); the value stays the true loss, so logs
        # agree across world sizes.
        scaled = loss * world - loss.detach() * (world - 1)
        return scaled if info is None else (scaled, info)

    return wrapper


#: OpenGait's name for :func:`gather_and_scale`, so its losses need only their imports changed.
gather_and_scale_wrapper = gather_and_scale
