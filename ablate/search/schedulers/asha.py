"""``asha``: asynchronous successive halving stops the weaker trials early."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ablate.config import Config
from ablate.errors import did_you_mean
from ablate.search.schedulers.base import SCHEDULERS, Scheduler
from ablate.search.schedulers.seed_groups import PROMOTE


@SCHEDULERS.register_module("asha")
class Asha(Scheduler):
    """Ray Tune's ``ASHAScheduler`` over epochs.

    Args:
        grace_period: Epochs every trial runs before it can be stopped.
        reduction_factor: Keep about 1 in this many trials at each rung.
        max_t: The last rung (default: ``train.epochs``).
        promote: ``mean`` (default) or ``lcb``: a cell's seeds are promoted or stopped
            together, on the group's mean or its lower 95% confidence bound
            (:mod:`.seed_groups`); ``trial``: Ray's ASHA, each trial on its own.
    """

    stops_early = True
    seed_groups = True
    label = "ASHA"

    def __init__(
        self,
        grace_period: int = 1,
        reduction_factor: float = 3,
        max_t: int | None = None,
        promote: str = "mean",
    ) -> None:
        if promote not in PROMOTE:
            raise ValueError(
                f"promote: expected one of {', '.join(PROMOTE)}, got {promote!r}"
                f"{did_you_mean(str(promote), PROMOTE)}"
            )
        self.grace_period = grace_period
        self.reduction_factor = float(reduction_factor)
        self.max_t = max_t
        self.promote = promote

    @classmethod
    def validate(cls, cfg: Config, key: str, options: dict[str, Any]) -> None:
        for name, value in options.items():
            if name == "promote":
                continue
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

    def tune_scheduler(self, epochs: int, groups: Mapping[str, int] | None = None) -> Any:
        """Seed-group ASHA on ``groups`` (seeds per cell), or Ray's per-trial ASHA."""
        if self.promote != "trial":
            from ablate.search.schedulers import seed_groups

            return seed_groups.SeedGroupASHA(
                "epoch",  # not training_iteration: a restored trial reports its epochs again
                int(self.max_t or epochs),
                int(self.grace_period),
                self.reduction_factor,
                dict(groups or {}),
                self.promote,
            )
        from ray.tune.schedulers import ASHAScheduler

        return ASHAScheduler(
            time_attr="epoch",
            max_t=int(self.max_t or epochs),
            grace_period=int(self.grace_period),
            reduction_factor=self.reduction_factor,
        )
