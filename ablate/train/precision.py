"""Mixed precision for the training loop: ``train.amp: {dtype: bf16 | fp16}``.

bf16 keeps fp32's exponent range, so it needs no loss scaling and runs on CPU as well as on
recent GPUs. fp16 has a narrow range: small gradients underflow to zero unless the loss is
scaled up first, which is what :class:`torch.amp.GradScaler` does (and it skips a step
whose gradients overflowed). The scaler's state (its current scale and growth tracker) is
part of every checkpoint, so a resumed trial scales as the uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

#: ``train.amp.dtype`` -> torch dtype.
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast for forward passes, and the backward/step that goes with it.

    ``dtype=None`` is full precision: :meth:`autocast` does nothing and :meth:`step` is a
    plain backward, clip and step.
    """

    def __init__(self, dtype: str | None, device: torch.device) -> None:
        self.dtype = dtype
        self.device_type = device.type
        self.scaler: torch.amp.GradScaler | None = None
        if dtype == "fp16":
            self.scaler = torch.amp.GradScaler(device.type)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Run the enclosed forward (and loss) in the mixed dtype where it is safe."""
        if self.dtype is None:
            yield
            return
        with torch.autocast(self.device_type, dtype=DTYPES[self.dtype]):
            yield

    def step(
        self,
        loss: Tensor,
        optimizer: torch.optim.Optimizer,
        params: Iterable[nn.Parameter],
        grad_clip: float | None,
    ) -> None:
        """Backward, clip (on unscaled gradients) and step; ``zero_grad`` is the caller's."""
        if self.scaler is None:
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        if grad_clip:
            # Clip the true gradients, not the scaled ones.
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(params, grad_clip)
        self.scaler.step(optimizer)  # skipped when a gradient is inf/NaN
        self.scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        """The scaler's state for a checkpoint (None without one)."""
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore the scaler; a checkpoint without one (an fp32 or bf16 run) leaves it new."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def full_precision(out: dict[str, Any]) -> dict[str, Any]:
    """A model output whose ``inference_feat`` tensors are fp32 again: metric states
    (torchmetrics) are fp32, and a bf16 logit or embedding would round their sums."""
    feats = out.get("inference_feat")
    if not feats:
        return out
    cast = {
        k: v.float() if isinstance(v, Tensor) and v.is_floating_point() else v
        for k, v in feats.items()
    }
    return {**out, "inference_feat": cast}


__all__ = ["DTYPES", "Precision", "full_precision"]
