"""Incremental sweeps: run only the (cell, seed) pairs the tracking store has not seen finish.

A nightly job, an added seed or a new choice runs only what is new or failed;
``--rerun-all`` keeps every trial, ``--rerun-changed-code`` also keeps finished ones whose
run recorded another code fingerprint. A finished trial that runs again trains afresh.
"""

from __future__ import annotations

import dataclasses
import shutil

from ablate.app.options import SweepOptions
from ablate.errors import AblateError
from ablate.fingerprint import code_fingerprint
from ablate.layout import FINISHED, checkpoint_dir, experiment_root, trial_name
from ablate.plan import SweepPlan
from ablate.tracking import Store, open_store, shown, sqlite_file, tracking_uri
from ablate.tracking.history import epochs_reached, finished_runs


def still_to_run(
    plan: SweepPlan, store: Store, opts: SweepOptions, *, dry: bool = False
) -> tuple[SweepPlan, int]:
    """The plan less the pairs that already FINISHED, and how many were skipped.

    Unless ``dry``, a finished pair that runs again loses its checkpoint first: a finished
    checkpoint would only re-report its last epoch, not train again.
    """
    code = code_fingerprint(plan.imports) if opts.rerun_changed_code else None
    done = {} if opts.rerun_all else finished_runs(store, plan.name, code)
    keep = [t for t in plan.trials if (t.cell, t.seed) not in done]
    ended = []
    if plan.scheduler.rungs(plan.epochs) and not dry:  # it judges the rest with them
        for t in plan.trials:
            run = done.get((t.cell, t.seed))
            if run is not None:
                finished = run.info.status == FINISHED
                epoch = plan.epochs if finished else epochs_reached(store, run, plan.tune.metric)
                ended.append((t, epoch))
    # the pairs that finished under any code (the same scan, unless it was narrowed)
    everything = done if code is None and not opts.rerun_all else finished_runs(store, plan.name)
    rerun = set(everything) & {(t.cell, t.seed) for t in keep}
    if rerun and not dry:
        root = experiment_root(opts.storage)
        for cell, seed in rerun:
            shutil.rmtree(
                checkpoint_dir(root, plan.name, trial_name(cell, seed)), ignore_errors=True
            )
    return dataclasses.replace(plan, trials=keep, ended=ended), len(plan.trials) - len(keep)


def skips_line(plan: SweepPlan, opts: SweepOptions) -> str:
    """What ``ablate run`` would skip, from the tracking store, without creating one."""
    uri = tracking_uri(opts.tracking_uri)
    db = sqlite_file(uri)
    if db is not None and not db.exists():
        return (
            f"  incremental: no tracking store at {db} yet: all {len(plan.trials)} trials would run"
        )
    try:
        store = open_store(uri)
    except AblateError as err:
        return f"  incremental: cannot read {shown(uri)} ({err.message}): cannot tell what would be skipped"
    left, skipped = still_to_run(plan, store, dataclasses.replace(opts, storage=None), dry=True)
    return (
        f"  incremental: {len(left.trials)} trials would run, {skipped} already finished in "
        f"{shown(uri)} would be skipped"
    )


__all__ = ["skips_line", "still_to_run"]
