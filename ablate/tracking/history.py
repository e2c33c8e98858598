"""What a sweep has already done, read back from the tracking store.

Incremental sweeps (a nightly job, an added seed) run only the ``(cell, seed)`` pairs that
have not FINISHED yet. A trial a scheduler stopped early (ASHA) counts as done too: it was
a decision, not an accident.
"""

from __future__ import annotations

from ablate.tracking.store import ROLE, TRIAL, Store, run_filter


def finished_pairs(store: Store, sweep: str, code: str | None = None) -> set[tuple[str, int]]:
    """``(cell, seed)`` pairs of ``sweep`` that ended FINISHED (or were stopped by ASHA).

    Args:
        code: Count only trials that ran this code fingerprint (``ablate.code`` tag).
    """
    exp = store.call("get_experiment_by_name", store.client.get_experiment_by_name, sweep)
    if exp is None or exp.lifecycle_stage == "deleted":
        return set()
    done: set[tuple[str, int]] = set()
    for run in store.all_runs(str(exp.experiment_id), run_filter(**{ROLE: TRIAL})):
        tags = run.data.tags
        ended = run.info.status == "FINISHED" or tags.get("ablate.status") == "STOPPED"
        if not ended or "ablate.cell" not in tags or "ablate.seed" not in tags:
            continue
        if code is not None and tags.get("ablate.code") != code:
            continue
        done.add((tags["ablate.cell"], int(tags["ablate.seed"])))
    return done
