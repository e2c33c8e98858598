"""Steady-state training throughput inside a trial, against bare PyTorch loops.

Run: ``python bench/bench_throughput.py [--rounds 6] [--epochs 6] [--no-ray-train]``.
Writes ``bench/results/throughput.json``.

Each round trains the same config (one seed per round) as two bare loops in this process
(``bare_tensor``: the in-memory tensors indexed per batch, what a user writes for such
data; ``bare``: a DataLoader fetching item by item) and once as an inline sweep trial, in
alternating order so drift on a shared machine falls on all; without ``--no-ray-train``
also once through Ray Train (1 worker), for information. Samples/s is the training set
size over the training pass of an epoch: the loop's own ``time/train_epoch_s`` for trials,
the same span for the bare loops. Epoch 1 is left out (first-call costs). The target (the
performance issue): inline >= 0.9x the bare tensor loop.

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

TARGET = 0.9
REF = "bare_tensor"
BARES = {"bare_tensor": "tensor", "bare": "loader"}

SWEEP = """
search:
  optimizer.lr: [0.05]
  seeds: [{seed}]
train: {{epochs: {epochs}, num_threads: 1}}
tune: {{strategy: factorial, scheduler: fifo, max_concurrent: 1}}
scaling: {scaling}
"""
#: ``--probe``: the performance issue's probe model and data instead of the base config's
#: (a small CNN on 4,000 in-memory 8x8 images, batch 64), where fetching is a larger share.
PROBE = """
model:
  type: ImageClassifier
  backbone: {_delete_: true, type: ConvNet, in_channels: 1, widths: [16, 32]}
  neck: {type: GlobalAveragePooling}
  head: {type: LinearClsHead, num_classes: 10, loss: {type: CrossEntropyLoss}}
data:
  dataset: {_delete_: true, type: SyntheticImages, num_samples: 4000, num_classes: 10, image_size: 8}
  val_dataset: {num_samples: 1000}
  batch_size: 64
optimizer: {lr_schedule: null, weight_decay: 0.0}
"""
SCALING = {"inline": "{num_workers: 1}", "ray_train": "{num_workers: 1, ray_train: true}"}


def trial_rates(timeline, n_train: int) -> tuple[list[float], list[float]]:
    """(samples/s per steady epoch, driver-side seconds between steady epoch results)."""
    (t,) = timeline.ordered()
    rates = [n_train / r["time/train_epoch_s"] for _, r in t.results[1:]]
    cadence = [b[0] - a[0] for a, b in itertools.pairwise(t.results)]
    return rates, cadence


def loop_rates(resolved: dict, per_item: bool) -> tuple[list[float], list[float]]:
    """Samples/s of each steady epoch of ablate's loop run in this process, without Ray
    (``--no-ray``), by wall time and by CPU time; ``per_item``: with batched fetching
    turned off, as before it existed."""
    import time

    import ablate.train.build as build
    import ablate.train.loop as loop
    from ablate.config import Config

    times: list[float] = []
    cpu: list[float] = []
    epoch = loop._train_epoch

    def timed_epoch(*args, **kwargs):  # type: ignore[no-untyped-def]
        c0 = time.thread_time()
        out = epoch(*args, **kwargs)
        cpu.append(time.thread_time() - c0)
        return out

    class Recorder(loop.Runtime):
        def report(self, metrics: dict, images: dict, state) -> None:  # type: ignore[no-untyped-def]
            times.append(metrics["time/train_epoch_s"])

    cfg = Config(resolved, "<bench>")
    saved = build.batched, loop.batched
    if per_item:
        build.batched = loop.batched = lambda dataset: dataset  # type: ignore[assignment]
    loop._train_epoch = timed_epoch  # type: ignore[assignment]
    try:
        loop.train(cfg, Recorder())
    finally:
        build.batched, loop.batched = saved
        loop._train_epoch = epoch  # type: ignore[assignment]
    n = n_train_of_cfg(cfg)
    return [n / t for t in times[1:]], [n / t for t in cpu[1:]]


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--no-ray-train", action="store_true")
    ap.add_argument("--probe", action="store_true", help="the probe's model and data")
    ap.add_argument(
        "--no-ray",
        action="store_true",
        help="ablate's loop in this process (with and without batched fetching), no trials",
    )
    args = ap.parse_args()
    info = machine()
    kinds = ["inline"] if args.no_ray_train else ["inline", "ray_train"]
    if args.no_ray:
        kinds = ["loop", "loop_per_item"]
    arms = [*BARES, *kinds]
    rates: dict[str, list[float]] = {k: [] for k in arms}
    cadence: dict[str, list[float]] = {k: [] for k in arms}
    cpu_rates: dict[str, list[float]] = {k: [] for k in arms}  # --no-ray only
    paired: dict[str, list[float]] = {k: [] for k in arms if k != REF}

    with tempfile.TemporaryDirectory(prefix="ablate-bench-") as tmp_str:
        tmp = Path(tmp_str)
        plans = {
            (k, r): sweep_plan(
                tmp,
                f"throughput_{k}_{r}",
                SWEEP.format(seed=r, epochs=args.epochs, scaling=SCALING[k])
                + (PROBE if args.probe else ""),
            )
            for k in ("inline", "ray_train")
            for r in range(args.rounds)
        }
        log("warm-up bare run (not counted)")
        bare_run(resolved_configs(plans["inline", 0])[0])
        for r in range(args.rounds):
            order = list(arms)
            if r % 2:
                order.reverse()
            round_rates: dict[str, float] = {}
            for what in order:
                if what in BARES:
                    b = bare_run(resolved_configs(plans["inline", r])[0], fetch=BARES[what])
                    n_train = b.samples_per_epoch
                    got = [n_train / s for s in b.train_epoch_s[1:]]
                    cpu_rates[what] += [n_train / s for s in b.train_epoch_cpu_s[1:]]
                    cadence[what] += b.epoch_wall_s[1:]
                elif args.no_ray:
                    resolved = resolved_configs(plans["inline", r])[0]
                    got, by_cpu = loop_rates(resolved, per_item=what == "loop_per_item")
                    cpu_rates[what] += by_cpu
                else:
                    _, timeline, _ = run(plans[what, r], tmp / "ray")
                    got, cad = trial_rates(timeline, n_train_of(plans[what, r]))
                    cadence[what] += cad
                rates[what] += got
                round_rates[what] = statistics.median(got)
            for k in paired:
                paired[k].append(round_rates[k] / round_rates[REF])
            log(
                f"round {r + 1}/{args.rounds}: "
                + "  ".join(f"{k} {v:.0f}/s" for k, v in round_rates.items())
            )
        shutdown()

    ref_median = statistics.median(rates[REF])
    result = {
        "benchmark": "steady-state throughput inside a trial",
        "target": f"inline samples/s >= {TARGET}x the bare tensor loop",
        "reference": REF,
        "command": "python bench/bench_throughput.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "setup": {
            "config": "configs/digits_resnet.yaml"
            + (" + the probe's model and data" if args.probe else ""),
            "epochs": args.epochs,
            "steady_epochs": f"2..{args.epochs}",
            "rounds": args.rounds,
            "num_threads": 1,
        },
        "samples_per_s": {k: summary(v, 1) for k, v in rates.items()},
        "ratio_to_bare_tensor": {
            k: round(statistics.median(rates[k]) / ref_median, 3) for k in paired
        },
        "paired_round_ratio": {k: summary(v) for k, v in paired.items()},
        "cpu_samples_per_s": {k: summary(v, 1) for k, v in cpu_rates.items() if v},
        "epoch_cadence_s": {k: summary(v) for k, v in cadence.items()},
    }
    if args.no_ray:
        cpu_ref = statistics.median(cpu_rates[REF])
        result["cpu_ratio_to_bare_tensor"] = {
            k: round(statistics.median(cpu_rates[k]) / cpu_ref, 3) for k in paired
        }
    result["target_met"] = result["ratio_to_bare_tensor"][kinds[0]] >= TARGET
    name = "throughput" + ("_probe" if args.probe else "") + ("_loop" if args.no_ray else "")
    out = write_result(f"{name}.json", result)
    log(f"wrote {out}")
    for k in paired:
        print(
            f"{k}: {result['ratio_to_bare_tensor'][k]:.3f}x bare tensor loop "
            f"(paired rounds: {result['paired_round_ratio'][k]['median']:.3f}x)"
            + (f"; by CPU time {result['cpu_ratio_to_bare_tensor'][k]:.3f}x" if args.no_ray else "")
        )
    return result


def n_train_of_cfg(cfg) -> int:
    from ablate.train.build import build_datasets

    train_set, _ = build_datasets(cfg)
    return len(train_set)


def n_train_of(plan) -> int:
    from ablate.config import Config
    from ablate.train.build import build_datasets

    train_set, _ = build_datasets(Config(resolved_configs(plan)[0], "<bench>"))
    return len(train_set)


if __name__ == "__main__":
    main()
