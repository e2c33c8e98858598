"""Probes that run inside trial and Ray Train worker processes (used by profile_trial.py).

``probed_run_trial`` replaces :func:`ablate.run.trial.run_trial` as the Tune trainable. It
records when its process started, when this module was imported (the trainable being
unpickled), when the trial function was entered and left, and a cProfile of the trial
function. In Ray Train trials it also wraps ``train_worker`` in each worker. Everything is
written as JSON to ``$ABLATE_PROBE_DIR``.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import sys
import time
import uuid
from pathlib import Path
from typing import Any

IMPORTED_AT = time.time()
_MODULES_AT_IMPORT = {m: m in sys.modules for m in ("torch", "sklearn", "ray.tune", "ablate")}

#: Functions whose cumulative time the probe extracts from the profile, by (file tail, name).
WATCH = {
    "import_plugins": ("ablate/run/context.py", "import_plugins"),
    "train (ablate loop)": ("ablate/train/loop.py", "train"),
    "build_datasets": ("ablate/train/build.py", "build_datasets"),
    "build_model": ("ablate/train/build.py", "build_model"),
    "build_optimizer": ("ablate/train/build.py", "build_optimizer"),
    "_train_epoch": ("ablate/train/loop.py", "_train_epoch"),
    "evaluate": ("ablate/train/loop.py", "evaluate"),
    "save_state": ("ablate/train/checkpoint.py", "save_state"),
    "load_state": ("ablate/train/checkpoint.py", "load_state"),
    "TuneRuntime.report": ("ablate/run/training.py", "report"),
    "tune.report": ("ray/tune/trainable/trainable_fn_utils.py", "report"),
    "ray.train.report": ("ray/train/v2/api/train_fn_utils.py", "report"),
    "prepare_model": ("ablate/run/training.py", "prepare_model"),
    "fit_with_ray_train": ("ablate/run/training.py", "fit_with_ray_train"),
    "TorchTrainer.fit": ("ray/train/v2/api/data_parallel_trainer.py", "fit"),
    "RayTrainRuntime.__init__": ("ablate/run/training.py", "__init__"),
}


def _process_start() -> float:
    """This process's start, wall clock (Linux /proc)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration, IndexError):
        return float("nan")


def _watched(stats: pstats.Stats) -> dict[str, float]:
    out: dict[str, float] = {}
    for (file, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for label, (tail, fn) in WATCH.items():
            if name == fn and file.endswith(tail):
                out[label] = round(out.get(label, 0.0) + ct, 4)
    return out


def _profiled(kind: str, fn: Any, *args: Any) -> Any:
    entered = time.time()
    prof = cProfile.Profile()
    prof.enable()
    try:
        return fn(*args)
    finally:
        prof.disable()
        left = time.time()
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("cumulative").print_stats(30)
        record = {
            "kind": kind,
            "pid": os.getpid(),
            "process_start": _process_start(),
            "module_imported": IMPORTED_AT,
            "modules_at_import": _MODULES_AT_IMPORT,
            "entered": entered,
            "left": left,
            "watched_s": _watched(stats),
            "top": buf.getvalue().splitlines()[:60],
        }
        out = Path(os.environ.get("ABLATE_PROBE_DIR", "."))
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{kind}-{os.getpid()}-{uuid.uuid4().hex[:6]}.json").write_text(
            json.dumps(record, indent=1)
        )


def probed_train_worker(loop_config: dict[str, Any]) -> None:
    from ablate.run import training

    # In a Ray Train worker process ablate.run.training is the unpatched module.
    original = training.__dict__.get("_original_train_worker", training.train_worker)
    assert original is not probed_train_worker
    _profiled("train_worker", original, loop_config)


def probed_run_trial(params: dict[str, Any], ctx: Any) -> None:
    from ablate.run import training, trial

    if "_original_train_worker" not in training.__dict__:
        training.__dict__["_original_train_worker"] = training.train_worker
        training.train_worker = probed_train_worker  # type: ignore[assignment]
    _profiled("run_trial", trial.run_trial, params, ctx)
