"""The MLflow layout of a sweep, defined once: every tag, role, status and artifact name the
writer (:mod:`.tracker`) writes and the reader (:mod:`.read`, :mod:`.history`) reads.

- One experiment per sweep name, tagged :data:`SWEEP`.
- One *parent* run per ``ablate run`` (:data:`ROLE` = :data:`PARENT`): what a report needs
  to know of the sweep, the sweep file (:data:`SWEEP_ARTIFACT`) and, at the end, the report
  (:data:`REPORT_ARTIFACT`).
- One *cell* run per cell an ``ablate run`` trains (:data:`ROLE` = :data:`CELL_ROLE`, child of
  the parent): params are the point's labels; at the end, metrics :data:`CELL_METRICS` over the
  cell's seeds (mean, CI low and high, n) and the tag :data:`VERDICT`, so MLflow's UI compares
  cells directly.
- One *trial* run per Tune trial (:data:`ROLE` = :data:`TRIAL`, :data:`PARENT_RUN`: its cell
  run; in stores written before cell runs, the parent run): params are the point's readable
  labels and ``seed``; metrics every epoch at step = epoch; :data:`CONFIG_ARTIFACT` is the
  fully resolved config. Readers select trials by :data:`ROLE`, so both layouts read alike.
"""

from __future__ import annotations

from ablate.layout import FAILED, FINISHED, INCOMPLETE, INTERRUPTED, KILLED, RUNNING, STOPPED

# --- roles ---------------------------------------------------------------------------------------
ROLE, PARENT, TRIAL = "ablate.role", "parent", "trial"
CELL_ROLE = "cell"  # a cell run: under the parent, over the cell's seed trials

# --- tags of the experiment only (what MLflow's UI reads; see .view) --------------------------------
EXPERIMENT_KIND, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"
VIEW_PREFIX = "mlflow.sharedViewState."  # + a key: a saved view of the runs table (JSON)

# --- tags of the experiment and of both kinds of run -----------------------------------------------
SWEEP = "ablate.sweep"
CODE = "ablate.code"  # the code fingerprint (``--rerun-changed-code``)
VERSION_PREFIX = "ablate.version."  # + package name
GIT_COMMIT = "mlflow.source.git.commit"
GIT_DIRTY = "ablate.git.dirty"
TUNE_EXPERIMENT = "ablate.tune_experiment"

# --- tags of a parent run ------------------------------------------------------------------------
METRIC = "ablate.metric"
MODE = "ablate.mode"
STRATEGY = "ablate.strategy"
BASELINE = "ablate.baseline"  # JSON
DIMENSIONS = "ablate.dimensions"  # JSON: [{name, categorical}, ...]
SWEEP_FILE = "ablate.sweep_file"
COMMAND = "ablate.command"
MIN_EFFECT = "ablate.min_effect"
ADAPTIVE = "ablate.adaptive"  # JSON: {min, max, step, spending}
SEEDS = "ablate.seeds"  # JSON: the sweep's seed order
TARGET = "ablate.target"  # JSON: the ablation path's end
PATH = "ablate.path"  # JSON: the ablation path's steps [{flip, cell, raced}, ...]

# --- tags of a trial run -------------------------------------------------------------------------
PARENT_RUN = "mlflow.parentRunId"
CELL = "ablate.cell"
SEED = "ablate.seed"
TRIAL_NAME = "ablate.trial"
TRIAL_ID = "ablate.trial_id"
TUNE_PATH = "ablate.tune_path"
#: The drivers' own copies of the trial dir (``os.pathsep``-joined, the latest last): Tune
#: writes ``result.json`` there at once and copies it to TUNE_PATH only every 10 s or more.
TUNE_LOCAL_PATHS = "ablate.tune_local_paths"
STATUS = "ablate.status"  # how it ended, finer than MLflow's status (STOPPED, INTERRUPTED, ...)
#: The STATUS of an unfinished run whose trial had no checkpoint and so trained again from
#: epoch 1 in a new run: the old one is deleted (restorable in MLflow), one run per trial.
SUPERSEDED = "SUPERSEDED"
DURATION = "ablate.duration_s"
ERROR = "ablate.error"  # the failed trial's one-line cause
LAST_RETRIED_ERROR = "ablate.last_retried_error"
METRIC_ARTIFACTS = "ablate.metric_artifacts"  # comma-separated paths under METRIC_ARTIFACT_DIR

# --- artifacts -----------------------------------------------------------------------------------
CONFIG_ARTIFACT, ERROR_ARTIFACT = "config.yaml", "error.txt"
SWEEP_ARTIFACT, REPORT_ARTIFACT = "sweep.yaml", "report"
#: A trial's non-scalar metric results: ``metrics/<split>/<name>.json`` (a confusion matrix).
METRIC_ARTIFACT_DIR = "metrics"

# --- a cell run: its tag and metrics (``<metric>/<stat>``) -----------------------------------
VERDICT = "ablate.verdict"
CELL_METRICS = ("mean", "ci_low", "ci_high", "n")

# --- metrics of a parent run ---------------------------------------------------------------------
COUNT_PREFIX = "trials/"  # + total, failed

__all__ = [
    "ADAPTIVE",
    "BASELINE",
    "CELL",
    "CELL_METRICS",
    "CELL_ROLE",
    "CODE",
    "COMMAND",
    "CONFIG_ARTIFACT",
    "COUNT_PREFIX",
    "DIMENSIONS",
    "DURATION",
    "ERROR",
    "ERROR_ARTIFACT",
    "EXPERIMENT_KIND",
    "FAILED",
    "FINISHED",
    "GIT_COMMIT",
    "GIT_DIRTY",
    "INCOMPLETE",
    "INTERRUPTED",
    "KILLED",
    "LAST_RETRIED_ERROR",
    "METRIC",
    "METRIC_ARTIFACTS",
    "METRIC_ARTIFACT_DIR",
    "MIN_EFFECT",
    "MODE",
    "MODEL_TRAINING",
    "PARENT",
    "PARENT_RUN",
    "PATH",
    "REPORT_ARTIFACT",
    "ROLE",
    "RUNNING",
    "SEED",
    "SEEDS",
    "STATUS",
    "STOPPED",
    "STRATEGY",
    "SUPERSEDED",
    "SWEEP",
    "SWEEP_ARTIFACT",
    "SWEEP_FILE",
    "TARGET",
    "TRIAL",
    "TRIAL_ID",
    "TRIAL_NAME",
    "TUNE_EXPERIMENT",
    "TUNE_LOCAL_PATHS",
    "TUNE_PATH",
    "VERDICT",
    "VERSION_PREFIX",
    "VIEW_PREFIX",
]
