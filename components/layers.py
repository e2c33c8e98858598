"""Small building blocks shared by the built-in components: activations by name, DropPath."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import torch
from torch import Tensor, nn

#: Activation names a config may use (``act: gelu``).
Activation = Literal["relu", "gelu", "silu", "tanh"]
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}
assert set(ACTIVATIONS) == set(get_args(Activation))


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name`` (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def check_out_indices(out_indices: Sequence[int], num: int, what: str) -> tuple[int, ...]:
    """Normalise ``out_indices`` (negatives count from the end) to sorted positive indices."""
    if not out_indices:
        raise ValueError("out_indices must name at least one output")
    bad = [i for i in out_indices if not -num <= i < num]
    if bad:
        raise ValueError(f"out_indices {list(out_indices)} out of range for {num} {what}")
    return tuple(sorted({i % num for i in out_indices}))


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch per sample (Huang et al., 2016).

    Args:
        p: Drop probability; kept samples are scaled by ``1 / (1 - p)`` so the expectation
            is unchanged and eval needs no rescaling.

    Shapes:
        (N, ...) -> (N, ...).
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        return x * mask.bernoulli_(keep) / keep
