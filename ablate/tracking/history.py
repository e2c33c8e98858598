"""What a sweep has already done, read back from the tracking store.

Incremental sweeps (a nightly job, an added seed) run only the ``(cell, seed)`` pairs that
have not FINISHED yet. A trial a scheduler stopped early (ASHA) counts as done too: it was
a decision, not an accident.
"""

from __future__ import annotations

from typing import Any

from ablate.tracking import schema as S
from ablate.tracking.store import Store, run_filter


def finished_runs(store: Store, sweep: str, code: str | None = None) -> dict[tuple[str, int], Any]:
    """The trial runs of ``sweep`` that ended FINISHED, or that an early-stopping scheduler
    stopped, by ``(cell, seed)``.

    Args:
        code: Count only trials that ran this code fingerprint (``ablate.code`` tag).
    """
    exp = store.call("get_experiment_by_name", store.client.get_experiment_by_name, sweep)
    if exp is None or exp.lifecycle_stage == "deleted":
        return {}
    done: dict[tuple[str, int], Any] = {}
    for run in store.all_runs(str(exp.experiment_id), run_filter(**{S.ROLE: S.TRIAL})):
        tags = run.data.tags
        ended = run.info.status == S.FINISHED or tags.get(S.STATUS) == S.STOPPED
        if not ended or S.CELL not in tags or S.SEED not in tags:
            continue
        if code is not None and tags.get(S.CODE) != code:
            continue
        done[(tags[S.CELL], int(tags[S.SEED]))] = run
    return done


def epochs_reached(store: Store, run: Any, metric: str, none: int = 0) -> int:
    """The last epoch a trial run logged (its ``metric``'s last step); ``none`` if it
    logged nothing."""
    keys = list(run.data.metrics)
    if not keys:
        return none
    key = metric if metric in keys else keys[0]
    hist = store.call("get_metric_history", store.client.get_metric_history, run.info.run_id, key)
    return max((int(m.step) for m in hist), default=none)
