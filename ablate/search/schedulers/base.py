"""The scheduler extension point: how a sweep spends its epochs on the trials it runs.

A scheduler is a small class registered in :data:`SCHEDULERS`; ``tune.scheduler`` selects
it by name, or as ``{type: name, **options}`` whose options are its constructor arguments
(checked like a component's). One file per scheduler, plus its registration.

Lifecycle, for one sweep:

1. The plan builds it from ``tune.scheduler`` and calls :meth:`Scheduler.check` with the
   trials' epoch count (an option that could never fire is a mistake).
2. The Tune driver calls :meth:`Scheduler.tune_scheduler` for Ray Tune's scheduler object
   (Ray is imported there, never at import time).
3. The tracker asks :attr:`Scheduler.stops_early`: a trial that ended short of its epochs
   under such a scheduler was *stopped* by design (``STOPPED``: final, not run again by an
   incremental sweep); under any other it was cut short and runs again.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from ablate.config import Config
from ablate.errors import AblateError, did_you_mean
from ablate.registry import EXTENSIONS_GROUP, Registry, culprit, join_key
from ablate.signature import check_kwargs, params_of

#: Schedulers by name, in the order ``ablate`` lists them.
SCHEDULERS = Registry("scheduler", ordered=True, group=EXTENSIONS_GROUP)


class Scheduler(abc.ABC):
    """Base of every scheduler. Constructor arguments are its options.

    Attributes:
        stops_early: Whether it stops (or pauses) trials before their last epoch by design.
            A scheduler that stops or pauses trials must say so: Ray Train trials then get a
            fresh Tune process each (:func:`ablate.run.driver.reuse_actors`).
        seed_groups: Whether :meth:`tune_scheduler` takes ``groups`` (seeds per cell).
        label: Its name in messages.
        key: The config path of its options, for messages (set by :meth:`from_options`).
    """

    stops_early: ClassVar[bool] = False
    seed_groups: ClassVar[bool] = False
    label: ClassVar[str] = "scheduler"
    key: str = "tune.scheduler"

    @classmethod
    def from_options(cls, cfg: Config, key: str, options: dict[str, Any]) -> Scheduler:
        """Build it from its options, each checked against the constructor.

        Raises:
            AblateError: an unknown option (with a close match), or a bad value, at
                ``<key>.<option>``.
        """
        params, var_kw = params_of(cls)
        for name in options:
            if not var_kw and name not in params:
                expected = f"expected {', '.join(params)}" if params else "it takes none"
                raise cfg.error(
                    f"unknown {cls.label} option '{name}'"
                    f"{did_you_mean(str(name), params, loose=True)}; {expected}",
                    f"{key}.{name}",
                )
        cls.validate(cfg, key, options)
        try:
            check_kwargs(cls, options, key=key, type_name=cls.label)
            scheduler = cls(**options)
        except AblateError as err:
            raise cfg.locate(err) from None
        except ValueError as err:  # a bad value: point at the option the message names
            raise cfg.error(str(err), join_key(key, culprit(str(err), options))) from None
        scheduler.key = key
        return scheduler

    @classmethod
    def validate(cls, cfg: Config, key: str, options: dict[str, Any]) -> None:
        """Check raw option values before their types are (an optional hook, for messages
        sharper than "expected int"); a constructor's ``ValueError`` works too."""
        return None

    def check(self, cfg: Config, epochs: int) -> None:
        """Raise a ``cfg.error`` for options that cannot work with ``epochs`` per trial."""
        return None

    def describe(self, epochs: int, cells: int, proposes: bool) -> str | None:
        """One line for ``ablate plan``: how it spends epochs on ``cells`` cells (None:
        nothing to say). ``proposes``: the strategy asks for trials as others end."""
        return None

    def rungs(self, epochs: int) -> list[int]:
        """The epochs at which it may stop or pause a trial: every trial checkpoints there,
        so a paused one goes on from where it stopped. None by default."""
        return []

    @abc.abstractmethod
    def tune_scheduler(self, epochs: int) -> Any:
        """Ray Tune's scheduler (``time_attr`` is the results' ``epoch``, ablate's own count).
        A scheduler with :attr:`seed_groups` also takes ``groups``: seeds per cell
        (:func:`.seed_groups.group_key` -> count), to judge a cell's seeds together."""


__all__ = ["SCHEDULERS", "Scheduler"]
