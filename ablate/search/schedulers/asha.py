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
        wait: With seed groups and trials known up front (not under a proposing
            strategy): a group whose verdict at a rung is still open is paused there
            until it is certain, as synchronous successive halving would judge it
            (default). ``false``: the asynchronous rule, which promotes a rung's first
            arrivals with little to compare them with.
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
        wait: bool = True,
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
        self.wait = wait

    @classmethod
    def validate(cls, cfg: Config, key: str, options: dict[str, Any]) -> None:
        for name, value in options.items():
            if name == "promote":
                continue
            if name == "wait":
                if not isinstance(value, bool):
                    raise cfg.error(f"expected true or false, got {value!r}", f"{key}.{name}")
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

    def describe(self, epochs: int, cells: int, proposes: bool) -> str | None:
        rungs = self.rungs(epochs)
        max_t = int(self.max_t or epochs)
        if not rungs:
            return f"asha: no rung below max_t {max_t}: every trial trains to the end"
        at = f"judged at epoch{'s' if len(rungs) > 1 else ''} {', '.join(map(str, rungs))}"
        if self.promote == "trial":
            return f"asha (Ray's, per trial): {at} of {max_t}"
        if not (self.wait and not proposes and cells):
            return f"asha (seed groups, asynchronous): {at} of {max_t}"
        from ablate.search.schedulers.seed_groups import GroupRungs

        quota = GroupRungs(rungs, self.reduction_factor, {str(i): 1 for i in range(cells)}, "mean")
        counts, spent, n, last = [cells], 0, cells, 0
        for rung in rungs:
            spent += n * (rung - last)
            n, last = quota.quota[rung], rung
            counts.append(n)
        spent += n * (max_t - last)
        share = spent / (cells * max(epochs, max_t))  # the factorial trains every epoch
        return (
            f"asha (seed groups, waiting at rungs): {at} of {max_t}; "
            f"{' -> '.join(map(str, counts))} cells go on: {share:.0%} of the factorial's epochs"
        )

    def rungs(self, epochs: int) -> list[int]:
        """The epochs at which trials are judged (a trial checkpoints there, so a paused
        one goes on from it)."""
        from ablate.search.schedulers.seed_groups import rungs_of

        return rungs_of(int(self.grace_period), self.reduction_factor, int(self.max_t or epochs))

    def tune_scheduler(
        self, epochs: int, groups: Mapping[str, int] | None = None, max_running: int = 0
    ) -> Any:
        """Seed-group ASHA on ``groups`` (seeds per cell), or Ray's per-trial ASHA. A
        waiting one runs at most ``max_running`` trials at once itself."""
        if self.promote != "trial":
            from ablate.search.schedulers import seed_groups

            return seed_groups.SeedGroupASHA(
                "epoch",  # not training_iteration: a restored trial reports its epochs again
                int(self.max_t or epochs),
                int(self.grace_period),
                self.reduction_factor,
                dict(groups or {}),
                self.promote,
                wait=self.wait,
                max_running=max_running,
            )
        from ray.tune.schedulers import ASHAScheduler

        return ASHAScheduler(
            time_attr="epoch",
            max_t=int(self.max_t or epochs),
            grace_period=int(self.grace_period),
            reduction_factor=self.reduction_factor,
        )
