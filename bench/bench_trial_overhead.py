"""Per-trial fixed overhead: a trial's wall time minus a bare PyTorch loop's, per trial path.

Run: ``python bench/bench_trial_overhead.py [--trials 8] [--ray-trials 5] [--ddp-trials 3]``.
Writes ``bench/results/trial_overhead.json``.

In one process, side by side:

- **bare**: the same model, data, epochs and ``torch.set_num_threads`` trained by a plain
  PyTorch loop in this process (:func:`bench._common.bare_run`), after one warm-up run so
  its imports are not counted. Runs are spread between the sweeps to even out drift.
- **inline**: a sweep of ``--trials`` seeds of one cell, ``max_concurrent=1``; each trial
  trains inside its Tune trial process (which Tune reuses for the next trial).
- **ray_train**: ``--ray-trials`` seeds with ``scaling.ray_train: true`` (a TorchTrainer,
  1 worker).
- **ddp2**: ``--ddp-trials`` seeds with ``scaling.num_workers: 2`` (2 gloo workers), for
  information only.
- what-ifs, not what ablate ships, with Tune's ``reuse_actors`` forced for one sweep:
  **inline_fresh_actors** (off: every trial starts a fresh process, as an inline trial
  with ``tune.trial_timeout`` still does) and **ray_train_fresh_actors** (off: every Ray
  Train trial gets a fresh Tune process to drive its TorchTrainer, as before 2026-12-02).

Each trial's wall is taken by a Tune callback in the driver. Two figures per trial:

- ``wall``: ``on_trial_start`` -> ``on_trial_complete``. Tune calls ``on_trial_start`` once
  the trial's actor is up, so this leaves out the actor's process start.
- ``cadence``: previous trial's ``on_trial_complete`` -> this one's (trials 2..N). With one
  trial at a time this is everything a sweep pays per trial, actor start included. It is
  the headline figure.

Overhead = figure - median bare wall.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

from bench._common import (
    bare_run,
    log,
    machine,
    resolved_configs,
    run,
    shutdown,
    summary,
    sweep_plan,
    write_result,
)

TARGET_S = 3.0

SWEEP = """
search:
  optimizer.lr: [0.05]
  seeds: {seeds}
train: {{epochs: {epochs}, num_threads: 1}}
tune: {{strategy: factorial, scheduler: fifo, max_concurrent: 1}}
scaling: {scaling}
"""

PATHS = {
    "inline": "{num_workers: 1}",
    "inline_fresh_actors": "{num_workers: 1}",
    "ray_train_fresh_actors": "{num_workers: 1, ray_train: true}",
    "ray_train": "{num_workers: 1, ray_train: true}",
    "ddp2": "{num_workers: 2}",
}


#: The what-if paths: Tune's ``reuse_actors`` forced on or off for their sweep.
FORCE_REUSE = {"inline_fresh_actors": False, "ray_train_fresh_actors": False}


@contextlib.contextmanager
def forced_reuse(value: bool | None) -> Iterator[None]:
    """Force ``run_sweep``'s ``tune.TuneConfig(reuse_actors=...)`` for one sweep."""
    from ray import tune

    original = tune.TuneConfig
    if value is not None:

        def config(*args: Any, **kwargs: Any) -> Any:
            return original(*args, **{**kwargs, "reuse_actors": value})

        tune.TuneConfig = config  # type: ignore[misc]
    try:
        yield
    finally:
        tune.TuneConfig = original  # type: ignore[misc]


def path_figures(timeline, wall_s: float, bare_median: float) -> dict:
    trials = timeline.ordered()
    walls = [t.wall_s for t in trials]
    cadence = [b.complete - a.complete for a, b in itertools.pairwise(trials)]
    gaps = [b.start - a.complete for a, b in itertools.pairwise(trials)]
    first_result = [t.results[0][0] - t.start for t in trials if t.results]
    after_last = [t.complete - t.results[-1][0] for t in trials if t.results]
    epoch_gaps = [
        b[0] - a[0] for t in trials for a, b in zip(t.results, t.results[1:])
    ]  # driver-side time between two epoch results
    train_s = [
        sum(r[1].get("time/train_epoch_s", 0.0) for r in t.results) for t in trials if t.results
    ]
    return {
        "trials": len(trials),
        "sweep_wall_s": round(wall_s, 2),
        "first_trial_after_fit_s": round(trials[0].complete - timeline.fit_start, 2),
        "wall_s": summary(walls),
        "cadence_s": summary(cadence),
        "overhead_wall_s": summary([w - bare_median for w in walls]),
        "overhead_cadence_s": summary([c - bare_median for c in cadence]),
        "detail": {
            "actor_gap_s": summary(gaps),
            "start_to_first_result_s": summary(first_result),
            "between_epoch_results_s": summary(epoch_gaps),
            "last_result_to_complete_s": summary(after_last),
            "train_epochs_sum_s": summary(train_s),
        },
        "val_top1": [t.last("val/top1") for t in trials],
    }


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8, help="trials per inline path")
    ap.add_argument("--ray-trials", type=int, default=5, help="trials per Ray Train path")
    ap.add_argument("--ddp-trials", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument(
        "--paths",
        default="inline,inline_fresh_actors,ray_train,ray_train_fresh_actors,ddp2",
    )
    args = ap.parse_args()
    info = machine()
    paths = [p for p in args.paths.split(",") if p]

    with tempfile.TemporaryDirectory(prefix="ablate-bench-") as tmp_str:
        tmp = Path(tmp_str)
        plans = {}
        for p in paths:
            n = {"ddp2": args.ddp_trials}.get(p, args.ray_trials if "ray" in p else args.trials)
            plans[p] = sweep_plan(
                tmp,
                f"overhead_{p}",
                SWEEP.format(seeds=list(range(n)), epochs=args.epochs, scaling=PATHS[p]),
            )
        configs = resolved_configs(plans[paths[0]])
        per_block = max(2, args.trials // 2)
        bare: list = []

        def bare_block() -> None:
            for i in range(per_block):
                bare.append(bare_run(configs[i % len(configs)]))

        log("warm-up bare run (imports, first-call costs; not counted)")
        bare_run(configs[0])
        from ablate.run.session import connect

        t0 = time.perf_counter()
        connect(None)
        ray_init_s = time.perf_counter() - t0
        log(f"ray.init: {ray_init_s:.1f}s")

        timelines = {}
        for p in paths:
            bare_block()
            log(f"bare x{per_block}: median {statistics.median(b.wall_s for b in bare):.2f}s")
            log(f"{p}: {len(plans[p].trials)} trials")
            with forced_reuse(FORCE_REUSE.get(p)):
                _, timeline, wall = run(plans[p], tmp / "ray", max_concurrent=1)
            timelines[p] = (timeline, wall)
            log(f"{p}: done in {wall:.1f}s")
        bare_block()
        shutdown()

    bare_walls = [b.wall_s for b in bare]
    bare_median = statistics.median(bare_walls)
    result = {
        "benchmark": "per-trial fixed overhead",
        "target": f"median overhead <= {TARGET_S:g}s for a single-worker CPU trial",
        "command": "python bench/bench_trial_overhead.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "setup": {
            "config": "configs/digits_resnet.yaml",
            "epochs": args.epochs,
            "num_threads": 1,
            "max_concurrent": 1,
            "train_samples": bare[0].samples_per_epoch,
        },
        "ray_init_s": round(ray_init_s, 2),
        "bare": {
            "wall_s": summary(bare_walls),
            "build_s": summary([b.build_s for b in bare]),
            "train_epoch_s": summary([t for b in bare for t in b.train_epoch_s]),
            "val_top1": sorted({round(b.val_top1, 2) for b in bare}),
        },
        "paths": {p: path_figures(tl, wall, bare_median) for p, (tl, wall) in timelines.items()},
    }
    for p, fig in result["paths"].items():
        if p in ("inline", "ray_train"):
            fig["target_met"] = fig["overhead_cadence_s"]["median"] <= TARGET_S
    out = write_result("trial_overhead.json", result)
    log(f"wrote {out}")
    print(f"bare wall median {bare_median:.2f}s")
    for p, fig in result["paths"].items():
        print(
            f"{p:>10}: wall {fig['wall_s']['median']:.2f}s  cadence {fig['cadence_s']['median']:.2f}s"
            f"  overhead(cadence) {fig['overhead_cadence_s']['median']:.2f}s"
            f"  [{fig['overhead_cadence_s']['p25']:.2f}, {fig['overhead_cadence_s']['p75']:.2f}]"
        )
    return result


if __name__ == "__main__":
    main()
