"""``asha``: asynchronous successive halving stops the weaker trials early."""

from __future__ import annotations

from typing import Any

from ablate.config import Config
from ablate.search.schedulers.base import SCHEDULERS, Scheduler


@SCHEDULERS.register_module("asha")
class Asha(Scheduler):
    """Ray Tune's ``ASHAScheduler`` over epochs.

    Args:
        grace_period: Epochs every trial runs before it can be stopped.
        reduction_factor: Keep about 1 in this many trials at each rung.
        max_t: The last rung (default: ``train.epochs``).
    """

    stops_early = True
    label = "ASHA"

    def __init__(
        self, grace_period: int = 1, reduction_factor: float = 3, max_t: int | None = None
    ) -> None:
        self.grace_period = grace_period
        self.reduction_factor = float(reduction_factor)
        self.max_t = max_t

    @classmethod
    def validate(cls, cfg: Config, key: str, options: dict[str, Any]) -> None:
        for name, value in options.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if name == "reduction_factor" and not (number and value > 1):
                raise cfg.error(f"expected a number above 1, got {value!r}", f"{key}.{name}")
            whole = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            if name != "reduction_factor" and not whole:
                raise cfg.error(
                    f"expected a whole number of epochs >= 1, got {value!r}", f"{key}.{name}"
                )

    def check(self, cfg: Config, epochs: int) -> None:
        max_t = self.max_t or epochs
        if self.grace_period > max_t:
            raise cfg.error(
                f"grace_period {self.grace_period} exceeds max_t {max_t} (train.epochs is "
                f"{epochs}); ASHA would never stop a trial",
                f"{self.key}.grace_period",
            )

    def tune_scheduler(self, epochs: int) -> Any:
        from ray.tune.schedulers import ASHAScheduler

        return ASHAScheduler(
            time_attr="training_iteration",
            max_t=int(self.max_t or epochs),
            grace_period=int(self.grace_period),
            reduction_factor=self.reduction_factor,
        )
