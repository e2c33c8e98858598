"""Names every layer shares, defined once: trial names, where a sweep keeps its state, how a
trial travels through Ray Tune, and the words for how a trial ended.

A sweep's state under its storage root (``--storage``, default ``./.ablate/ray``)::

    <root>/<sweep>/ACTIVE                         the Tune experiment a killed run left
    <root>/<sweep>/LOCK                           flock-ed by the driver running the sweep
    <root>/<sweep>/runs/<stamp>/                  one Tune experiment per ``ablate run``
    <root>/<sweep>/checkpoints/<cell>-s<seed>/state.pt
    <root>/<sweep>/logs/<stamp>.log               what Ray, Tune and trials printed (``ablate run``)
    <root>/<sweep>-train-<cell>-s<seed>/          a Ray Train trial's own run
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

# --- how a trial ended: Tune outcomes, MLflow run statuses, report rows ----------------------------

FINISHED, FAILED, STOPPED, KILLED, RUNNING = "FINISHED", "FAILED", "STOPPED", "KILLED", "RUNNING"
#: Why a KILLED trial ended short (the ``ablate.status`` tag): the sweep's end caught it, or
#: its trainable returned early. Both run again in the next ``ablate run``; STOPPED (a
#: scheduler's decision) does not.
INTERRUPTED, INCOMPLETE = "INTERRUPTED", "INCOMPLETE"

#: The columns of a sweep's trial table and its long-form curves: what the tracking store's
#: reader produces and the report takes (:mod:`ablate.report.frame` says what each means).
TRIAL_COLUMNS = ("trial_id", "cell", "seed", "status", "error", "duration_s")
CURVE_COLUMNS = ("trial_id", "step", "metric", "value")
#: A Tune result key holding a non-scalar metric result (a confusion matrix) as nested
#: lists: ``artifact/<split>/<name>``. The tracker keeps the last and writes it to the trial
#: run when the trial ends (``tracking.schema.METRIC_ARTIFACT_DIR``).
RESULT_ARTIFACT_PREFIX = "artifact/"
#: A Tune result key holding a ``visual_summary`` image as base64 PNG:
#: ``ablate_image/<name>`` (:mod:`ablate.train.images`); logged as MLflow step images.
RESULT_IMAGE_PREFIX = "ablate_image/"
#: A trial result's wall-clock time, to the millisecond: MLflow stamps the epoch's metrics
#: with it. (Tune's ``timestamp`` is whole seconds, and Ray's session overwrites a trial's.)
RESULT_TIME = "ablate_at"

# --- trial names ---------------------------------------------------------------------------------


def trial_name(cell: str, seed: int) -> str:
    """``<cell>-s<seed>``: the name of a (cell, seed) pair, in Tune, MLflow and on disk."""
    return f"{cell}-s{seed}"


def unique_trial_name(cell: str, seed: int, trial_id: str) -> str:
    """A proposing strategy (Optuna) may repeat a point: its names carry Tune's trial id."""
    return f"{trial_name(cell, seed)}-{trial_id}"


# --- where a sweep keeps its state ---------------------------------------------------------------

#: Where trial state goes on a cluster when ``--storage`` is not given (on the head node).
DEFAULT_CLUSTER_STORAGE = "/tmp/ablate"
STATE_FILE = "state.pt"
ACTIVE_MARKER = "ACTIVE"
LOCK_FILE = "LOCK"


def experiment_root(storage: str | None) -> str:
    """The storage root, absolute: ``--storage``, else ``./.ablate/ray``."""
    return str(Path(storage or Path.cwd() / ".ablate" / "ray").resolve())


def sweep_dir(root: str | Path, sweep: str) -> Path:
    return Path(root) / sweep


def runs_dir(root: str | Path, sweep: str) -> Path:
    return sweep_dir(root, sweep) / "runs"


def console_log(root: str | Path, sweep: str, stamp: str) -> Path:
    """Where ``ablate run`` sends every line that is not its own (Ray's, Tune's, warnings)."""
    return sweep_dir(root, sweep) / "logs" / f"{stamp}.log"


def active_marker(root: str | Path, sweep: str) -> Path:
    return sweep_dir(root, sweep) / ACTIVE_MARKER


def lock_file(root: str | Path, sweep: str) -> Path:
    """The driver's lock on a sweep's storage (:mod:`ablate.tracking.lease`)."""
    return sweep_dir(root, sweep) / LOCK_FILE


def checkpoint_dir(root: str | Path, sweep: str, name: str) -> Path:
    return sweep_dir(root, sweep) / "checkpoints" / name


def checkpoint_file(root: str | Path, sweep: str, name: str) -> Path:
    """A trial's own checkpoint (ablate owns it rather than Tune: see ``run.context``)."""
    return checkpoint_dir(root, sweep, name) / STATE_FILE


def sweep_dir_of_experiment(tune_experiment: str | Path) -> Path:
    """``<root>/<sweep>/runs/<stamp>`` -> ``<root>/<sweep>``."""
    return Path(tune_experiment).parent.parent


def train_run_name(sweep: str, name: str) -> str:
    """A Ray Train trial's run: deterministic, so a restarted trial finds and resumes it."""
    return f"{sweep}-train-{name}"


# --- a trial as Ray Tune carries it ----------------------------------------------------------------


def tune_params(point: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """A planned trial as one entry of Tune's grid."""
    return {"point": dict(point), "seed": seed}


def split_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """Tune's trial config -> ``(point, seed)``.

    Planned strategies pass ``{'trial': {'point': ..., 'seed': ...}}``; a proposing one
    (Optuna) passes the suggested labels and ``seed`` flat.
    """
    params = params.get("trial", params)
    if "point" in params:
        return dict(params["point"]), int(params["seed"])
    point = {k: v for k, v in params.items() if k != "seed"}
    return point, int(params["seed"])
