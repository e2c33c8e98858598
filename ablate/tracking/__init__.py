"""MLflow tracking of sweeps: where the store is, and the one writer of a sweep's runs.

Layout, per sweep name:

- one MLflow experiment (experiment tag ``ablate.sweep``);
- one parent run per ``ablate run`` (``ablate.role = parent``), carrying what a report needs
  to know about the sweep (``ablate.metric``, ``ablate.mode``, ``ablate.strategy``,
  ``ablate.baseline``, ``ablate.dimensions``), the sweep file, and at the end the report;
- one child run per Tune trial (``mlflow.parentRunId``, ``ablate.role = trial``): params are
  the point's readable labels (``neck``, ``neck.p``) and ``seed``; tags ``ablate.cell``,
  ``ablate.seed``, the git commit and package versions; each epoch's metrics at step =
  epoch; ``config.yaml``, the fully resolved config. A failed trial ends FAILED with
  ``ablate.error`` (its one-line cause) and ``error.txt`` (the traceback).

Only the Tune driver writes: the callback of :func:`.callback.tracker_callback` queues each
trial event, and one writer thread makes every MLflow call, in order (Tune's loop never waits
on the store).
SQLite never sees two writers and cluster workers never need the store. A child run is found
again by its Tune trial (``ablate.trial_id``, ``ablate.tune_path``), or, for a trial that
resumes from its checkpoint in a later ``ablate run``, by its unfinished ``(cell, seed)`` run:
params already there are not logged again, epochs already logged are skipped, and epochs a
lost store missed are filled in from Tune's ``result.json``.

Every call is retried with backoff while its error is transient (a restarting server, a
locked database); past ``ABLATE_TRACKING_RETRY_S`` seconds (default 60) it raises
:class:`TrackingError` and the sweep stops, resumable. MLflow is imported on first use (it
takes seconds).

Modules: :mod:`.schema` (every tag, role, status and artifact name), :mod:`.store` (URI,
reachability, retries, batch limits), :mod:`.tracker` (the parent and child runs),
:mod:`.worker` (the writer thread), :mod:`.callback` (the Ray Tune callback),
:mod:`.history` (what a sweep already finished, for incremental runs) and :mod:`.read`
(a sweep read back as the report's tables).
"""

from ablate.tracking.store import (
    DEFAULT_URI,
    Retry,
    Store,
    TrackingError,
    is_server,
    open_store,
    shown,
    sqlite_file,
    tracking_env,
    tracking_uri,
)
from ablate.tracking.tracker import SweepTracker

__all__ = [
    "DEFAULT_URI",
    "Retry",
    "Store",
    "SweepTracker",
    "TrackingError",
    "is_server",
    "open_store",
    "shown",
    "sqlite_file",
    "tracking_env",
    "tracking_uri",
]
