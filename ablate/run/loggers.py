"""The files Tune writes for each trial of a sweep: its JSON results only.

Tune gives every experiment a JSON, a CSV and a TensorBoard logger, unless callbacks of
those classes are passed (``ray.tune.utils.callback._create_default_callbacks``). ablate's
record of a sweep is MLflow's, so nothing reads ``progress.csv`` or the event files, and
writing them is the driver's CPU taken from the trials: 0.12 to 0.41 s less of it over the
probe's 160 results without them, in 4 pairs (BENCHMARKS.md). The JSON log
stays: the tracker fills in a lost store's epochs from ``result.json``
(:mod:`ablate.tracking.callback`), and Tune's results read it.

:func:`tune_loggers` passes the JSON logger and two stand-ins of the other classes, which
write nothing; with ``ABLATE_TUNE_LOGGERS=1`` Tune adds its three as it would, for a new
Tune experiment (a restored one keeps the callbacks it was pickled with).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

#: ``1`` keeps Tune's CSV and TensorBoard files (``progress.csv``, ``events.out.tfevents.*``).
ENV = "ABLATE_TUNE_LOGGERS"


def tune_loggers() -> list[Any]:
    """The logger callbacks a sweep's ``RunConfig`` gets: nothing (Tune's own three) with
    :data:`ENV` ``1``; else Tune's JSON logger and stand-ins for its CSV and TensorBoard
    loggers."""
    if os.environ.get(ENV, "0") == "1":
        return []
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback, TBXLoggerCallback

    return [JsonLoggerCallback(), skipped(CSVLoggerCallback), skipped(TBXLoggerCallback)]


def skipped(logger: type) -> Any:
    """An instance of ``logger``'s class, to Tune, that writes nothing."""
    return _stand_in(logger)()


@cache
def _stand_in(logger: type) -> type:
    class Skipped(logger):  # type: ignore[misc,valid-type]
        """Tune's ``logger``, not written: its ``__init__`` (tensorboardX's import) and
        every ``log_trial_*`` do nothing."""

        def __init__(self) -> None:
            pass

        def log_trial_start(self, trial: Any) -> None:
            pass

        def log_trial_restore(self, trial: Any) -> None:
            pass

        def log_trial_save(self, trial: Any) -> None:
            pass

        def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
            pass

        def log_trial_end(self, trial: Any, failed: bool = False) -> None:
            pass

        def __reduce__(self) -> tuple[Any, ...]:  # pickled in Tune's experiment state
            return (skipped, (logger,))

    Skipped.__name__ = Skipped.__qualname__ = f"Skipped{logger.__name__}"
    return Skipped


__all__ = ["ENV", "skipped", "tune_loggers"]
