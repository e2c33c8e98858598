"""Where a trial's fixed time goes: a timeline per trial and a cProfile of the trial function.

Run: ``python bench/profile_trial.py [--trials 4] [--paths inline,ray_train] [--importtime]``.
Writes ``bench/results/trial_profile.json``.

The trainable is swapped for :func:`bench._probe.probed_run_trial` (the same
``run_trial`` under cProfile, plus timestamps), so each trial's time splits into:

- ``actor_start``: the previous trial's end -> this trial's process start (Ray spawning or
  handing over a worker process);
- ``process_to_trainable``: process start -> the trainable unpickled (Python, Ray, Tune
  and ablate imports; torch comes with ``ablate.run.training``, in the warm thread or in
  the trial function);
- ``trainable_to_trial_fn``: -> the trial function entered (Tune's actor set-up);
- ``trial_fn``: the trial function itself, with its profile (import_plugins, dataset and
  model build, epochs, checkpoints, reports; for Ray Train the whole TorchTrainer.fit);
- ``fn_to_complete``: the function returned -> the driver's ``on_trial_complete``.

``--importtime`` runs the workers with ``PYTHONPROFILEIMPORTTIME=1`` and lists the slowest
imports of a trial process. Profiling slows Python-heavy code, so read shares, not seconds;
bench_trial_overhead.py has the unprofiled figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench._probe as probe
from bench._common import log, machine, run, shutdown, sweep_plan, write_result

SWEEP = """
search:
  optimizer.lr: [0.05]
  seeds: {seeds}
train: {{epochs: 2, num_threads: 1}}
tune: {{strategy: factorial, scheduler: fifo, max_concurrent: 1}}
scaling: {scaling}
"""
POLL_VAR = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
PATHS = {
    "inline": "{num_workers: 1}",
    "ray_train": "{num_workers: 1, ray_train: true}",
    "ddp": "{num_workers: 2}",  # Ray Train, 2 DDP workers over gloo
}


def _med(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


def breakdown(timeline: Any, records: list[dict]) -> dict[str, Any]:
    """Join the driver's timeline with the probes by time order (one trial at a time)."""
    trials = timeline.ordered()
    fns = sorted((r for r in records if r["kind"] == "run_trial"), key=lambda r: r["entered"])
    workers = sorted(
        (r for r in records if r["kind"] == "train_worker"), key=lambda r: r["entered"]
    )
    rows = []
    prev_end = timeline.fit_start
    for i, (t, r) in enumerate(zip(trials, fns)):
        row = {
            "actor_start": r["process_start"] - prev_end,
            "process_to_trainable": r["module_imported"] - r["process_start"],
            "trainable_to_trial_fn": r["entered"] - r["module_imported"],
            "on_trial_start_to_trial_fn": r["entered"] - t.start,
            "trial_fn": r["left"] - r["entered"],
            "trial_fn_to_first_result": t.results[0][0] - r["entered"] if t.results else None,
            "fn_to_complete": t.complete - r["left"],
            "total_prev_complete_to_complete": t.complete - prev_end,
            "first": i == 0,
            "watched_s": r["watched_s"],
        }
        w = [x for x in workers if r["entered"] <= x["entered"] <= r["left"]]
        if w:
            x = w[0]
            row["worker"] = {
                "trial_fn_to_worker_process": x["process_start"] - r["entered"],
                "worker_process_to_trainable": x["module_imported"] - x["process_start"],
                "worker_fn": x["left"] - x["entered"],
                "trial_fn_to_worker_fn": x["entered"] - r["entered"],
                "worker_fn_end_to_trial_fn_end": r["left"] - x["left"],
                "watched_s": x["watched_s"],
            }
        rows.append(row)
        prev_end = t.complete
    # The first trial also pays Tune's experiment set-up; the medians use trials 2..N.
    later = [r for r in rows if not r["first"]] or rows
    keys = [k for k, v in rows[0].items() if isinstance(v, float)]
    med = {k: _med([r[k] for r in later if r.get(k) is not None]) for k in keys}
    med["watched_s"] = {
        k: _med([r["watched_s"].get(k, 0.0) for r in later]) for k in later[0]["watched_s"]
    }
    if "worker" in later[0]:
        wk = later[0]["worker"]
        med["worker"] = {
            k: _med([r["worker"][k] for r in later if "worker" in r])
            for k, v in wk.items()
            if isinstance(v, float)
        }
        med["worker"]["watched_s"] = {
            k: _med([r["worker"]["watched_s"].get(k, 0.0) for r in later if "worker" in r])
            for k in wk["watched_s"]
        }
    return {
        "median_trials_2_to_n": med,
        "trials": rows,
        "top_profile": fns[-1]["top"],
        "top_worker_profile": workers[-1]["top"] if workers else [],
    }


def slow_imports(session_dir: Path, n: int = 25) -> list[tuple[str, float]]:
    """The slowest cumulative imports of one worker process (PYTHONPROFILEIMPORTTIME)."""
    best: list[tuple[str, float]] = []
    pat = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)")
    for f in sorted((session_dir / "logs").glob("worker-*.err")):
        rows = []
        for line in f.read_text(errors="replace").splitlines():
            m = pat.search(line)
            if m and len(m.group(2)) <= 3:  # top-level and first-level imports only
                rows.append((m.group(3), int(m.group(1)) / 1e6))
        if sum(s for _, s in rows) > sum(s for _, s in best):
            best = rows
    return sorted(best, key=lambda x: -x[1])[:n]


def poll_ab(tmp: Path, trials: int, rounds: int) -> dict[str, Any]:
    """Ray Train trials with Ray's 2 s worker poll against ablate's ``TRAIN_POLL_S``."""
    from ablate.run.training import TRAIN_POLL_S

    arms = {"ray_default_2s": "2", f"ablate_{TRAIN_POLL_S}s": None}
    return env_ab(tmp, trials, rounds, POLL_VAR, arms, "ray_train")


def warm_ab(tmp: Path, trials: int, rounds: int, path: str) -> dict[str, Any]:
    """Ray Train trials with cold workers against warmed ones (:mod:`ablate.run.warm`)."""
    from ablate.run.warm import WARM_ENV

    return env_ab(tmp, trials, rounds, WARM_ENV, {"cold": "0", "warm": None}, path)


def env_ab(
    tmp: Path, trials: int, rounds: int, var: str, arms: dict[str, str | None], path: str
) -> dict[str, Any]:
    """Trials of ``path`` under each value of the environment variable ``var`` (None: unset).

    The variable must be in the trial processes' environment, so each arm gets its own
    Ray session; the arms alternate, ``rounds`` times each.
    """
    from bench.bench_trial_overhead import path_figures

    figures: dict[str, list[dict]] = {a: [] for a in arms}
    for r in range(rounds):
        for arm, value in arms.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
            plan = sweep_plan(
                tmp,
                f"ab_{path}_{arm.replace('.', '_')}_{r}",
                SWEEP.format(seeds=list(range(trials)), scaling=PATHS[path]),
            )
            _, timeline, wall = run(plan, tmp / "ray", max_concurrent=1)
            shutdown()
            figures[arm].append(path_figures(timeline, wall, 0.0))
            log(f"{var} A/B round {r + 1} {arm}: {wall:.1f}s")
    os.environ.pop(var, None)
    out: dict[str, Any] = {}
    for arm, figs in figures.items():
        walls = [v for f in figs for v in f["wall_s"]["values"]]
        cadence = [v for f in figs for v in f["cadence_s"]["values"]]
        epochs = [v for f in figs for v in f["detail"]["between_epoch_results_s"]["values"]]
        tail = [v for f in figs for v in f["detail"]["last_result_to_complete_s"]["values"]]
        out[arm] = {
            "trial_wall_s": _med(walls),
            "cadence_s": _med(cadence),
            "between_epoch_results_s": _med(epochs),
            "last_result_to_complete_s": _med(tail),
            "trials": len(walls),
        }
    return out


COLD = """
import json, sys, time
sys.path.insert(0, {root!r})
t = time.perf_counter(); out = {{}}
def step(name):
    global t
    now = time.perf_counter(); out[name] = round(now - t, 3); t = now
import torch; step("import torch")
import ray.tune; step("import ray.tune")
import ablate.run.training; step("import ablate.run.training")
from ablate.registry import load_plugins; load_plugins(); step("load plugins (ablate_components)")
import sklearn.datasets, sklearn.model_selection; step("import sklearn (Digits)")
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1); step("first optimizer (torch._dynamo)")
import ray.train.torch, ray.tune.integration.ray_train; step("import ray.train.torch")
print(json.dumps(out))
"""


def cold_imports(repeats: int = 3) -> dict[str, float]:
    """What a fresh Python process pays before training: median seconds per import step."""
    import subprocess

    runs = []
    for _ in range(repeats):
        proc = subprocess.run(
            [sys.executable, "-c", COLD.format(root=str(Path(__file__).resolve().parents[1]))],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {k: _med([r[k] for r in runs]) for k in runs[0]}


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--paths", default="inline,ray_train")
    ap.add_argument("--importtime", action="store_true")
    ap.add_argument(
        "--poll-ab",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="also compare Ray Train's worker poll interval, ROUNDS sessions per arm",
    )
    ap.add_argument(
        "--warm-ab",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="also compare cold and warmed Ray Train workers, ROUNDS sessions per arm",
    )
    ap.add_argument("--warm-path", default="ddp", choices=["ray_train", "ddp"])
    args = ap.parse_args()
    import ablate.run.driver
    from ablate.run.session import connect

    result: dict[str, Any] = {"machine": machine(), "paths": {}}
    result["cold_imports_s"] = cold_imports()
    log(f"fresh process imports: {json.dumps(result['cold_imports_s'])}")
    with tempfile.TemporaryDirectory(prefix="ablate-profile-") as tmp_str:
        tmp = Path(tmp_str)
        probe_dir = tmp / "probe"
        env = {"ABLATE_PROBE_DIR": str(probe_dir)}
        if args.importtime:
            env["PYTHONPROFILEIMPORTTIME"] = "1"
        connect(None, env=env)
        original = ablate.run.driver.run_trial
        ablate.run.driver.run_trial = probe.probed_run_trial  # type: ignore[assignment]
        for p in [p for p in args.paths.split(",") if p]:
            plan = sweep_plan(
                tmp,
                f"profile_{p}",
                SWEEP.format(seeds=list(range(args.trials)), scaling=PATHS[p]),
            )
            for f in probe_dir.glob("*.json"):
                f.unlink()
            log(f"{p}: {args.trials} trials")
            _, timeline, wall = run(plan, tmp / "ray", max_concurrent=1)
            records = [json.loads(f.read_text()) for f in probe_dir.glob("*.json")]
            result["paths"][p] = {"sweep_wall_s": round(wall, 2), **breakdown(timeline, records)}
            log(f"{p}: {json.dumps(result['paths'][p]['median_trials_2_to_n'])}")
        if args.importtime:
            import ray

            session = Path(ray._private.worker._global_node.get_session_dir_path())
            result["slow_imports_s"] = slow_imports(session)
        shutdown()
        ablate.run.driver.run_trial = original
        if args.poll_ab:
            result["ray_train_poll_ab"] = poll_ab(tmp, args.trials, args.poll_ab)
            log(f"poll A/B: {json.dumps(result['ray_train_poll_ab'])}")
        if args.warm_ab:
            result["warm_ab"] = warm_ab(tmp, args.trials, args.warm_ab, args.warm_path)
            log(f"warm A/B: {json.dumps(result['warm_ab'])}")
    out = write_result("trial_profile.json", result)
    log(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
