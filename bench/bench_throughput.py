"""Steady-state training throughput inside a trial, against a bare PyTorch loop.

Run: ``python bench/bench_throughput.py [--rounds 6] [--epochs 6] [--no-ray-train]``.
Writes ``bench/results/throughput.json``.

Each round trains the same config (one seed per round) once as a bare loop in this process
and once as an inline sweep trial, in alternating order so drift on a shared machine
falls on both; with ``--ray-train`` (the default) also once through Ray Train (1 worker),
for information. Samples/s is the training set size over the training pass of an epoch:
the loop's own ``time/train_epoch_s`` for trials, the same span for the bare loop. Epoch 1
is left out (first-call costs). The target: inline >= 0.95x bare.

Also recorded: the epoch cadence (train + validation + checkpoint + report, as the driver
sees results arrive) against the bare loop's train + validation per epoch.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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

TARGET = 0.95

SWEEP = """
search:
  optimizer.lr: [0.05]
  seeds: [{seed}]
train: {{epochs: {epochs}, num_threads: 1}}
tune: {{strategy: factorial, scheduler: fifo, max_concurrent: 1}}
scaling: {scaling}
"""
SCALING = {"inline": "{num_workers: 1}", "ray_train": "{num_workers: 1, ray_train: true}"}


def trial_rates(timeline, n_train: int) -> tuple[list[float], list[float]]:
    """(samples/s per steady epoch, driver-side seconds between steady epoch results)."""
    (t,) = timeline.ordered()
    rates = [n_train / r["time/train_epoch_s"] for _, r in t.results[1:]]
    cadence = [b[0] - a[0] for a, b in itertools.pairwise(t.results)]
    return rates, cadence


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--no-ray-train", action="store_true")
    args = ap.parse_args()
    info = machine()
    kinds = ["inline"] if args.no_ray_train else ["inline", "ray_train"]
    rates: dict[str, list[float]] = {"bare": [], **{k: [] for k in kinds}}
    cadence: dict[str, list[float]] = {"bare": [], **{k: [] for k in kinds}}
    paired: dict[str, list[float]] = {k: [] for k in kinds}

    with tempfile.TemporaryDirectory(prefix="ablate-bench-") as tmp_str:
        tmp = Path(tmp_str)
        plans = {
            (k, r): sweep_plan(
                tmp,
                f"throughput_{k}_{r}",
                SWEEP.format(seed=r, epochs=args.epochs, scaling=SCALING[k]),
            )
            for k in kinds
            for r in range(args.rounds)
        }
        log("warm-up bare run (not counted)")
        bare_run(resolved_configs(plans["inline", 0])[0])
        for r in range(args.rounds):
            order = ["bare", *kinds]
            if r % 2:
                order.reverse()
            round_rates: dict[str, float] = {}
            for what in order:
                if what == "bare":
                    b = bare_run(resolved_configs(plans["inline", r])[0])
                    n_train = b.samples_per_epoch
                    got = [n_train / s for s in b.train_epoch_s[1:]]
                    cadence["bare"] += b.epoch_wall_s[1:]
                else:
                    _, timeline, _ = run(plans[what, r], tmp / "ray")
                    got, cad = trial_rates(timeline, n_train_of(plans[what, r]))
                    cadence[what] += cad
                rates[what] += got
                round_rates[what] = statistics.median(got)
            for k in kinds:
                paired[k].append(round_rates[k] / round_rates["bare"])
            log(
                f"round {r + 1}/{args.rounds}: "
                + "  ".join(f"{k} {v:.0f}/s" for k, v in round_rates.items())
            )
        shutdown()

    bare_median = statistics.median(rates["bare"])
    result = {
        "benchmark": "steady-state throughput inside a trial",
        "target": f"inline samples/s >= {TARGET}x the bare loop",
        "command": "python bench/bench_throughput.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "setup": {
            "config": "configs/digits_resnet.yaml",
            "epochs": args.epochs,
            "steady_epochs": f"2..{args.epochs}",
            "rounds": args.rounds,
            "num_threads": 1,
        },
        "samples_per_s": {k: summary(v, 1) for k, v in rates.items()},
        "ratio_to_bare": {k: round(statistics.median(rates[k]) / bare_median, 3) for k in kinds},
        "paired_round_ratio": {k: summary(v) for k, v in paired.items()},
        "epoch_cadence_s": {k: summary(v) for k, v in cadence.items()},
    }
    result["target_met"] = result["ratio_to_bare"]["inline"] >= TARGET
    out = write_result("throughput.json", result)
    log(f"wrote {out}")
    for k in kinds:
        print(
            f"{k}: {result['ratio_to_bare'][k]:.3f}x bare "
            f"(paired rounds: {result['paired_round_ratio'][k]['median']:.3f}x)"
        )
    return result


def n_train_of(plan) -> int:
    from ablate.config import Config
    from ablate.train.build import build_datasets

    train_set, _ = build_datasets(Config(resolved_configs(plan)[0], "<bench>"))
    return len(train_set)


if __name__ == "__main__":
    main()
