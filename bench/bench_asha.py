"""Search efficiency: does an ASHA sweep find (nearly) the factorial sweep's best cell with a
fraction of its epochs?

Run: ``python bench/bench_asha.py [--repeats 3] [--epochs 9]``.
Writes ``bench/results/asha.json``.

The space: SGD learning rate (6 values over two decades) x classification head (linear or
an MLP) on Digits, 12 cells, one training seed per repeat. Each repeat ``r`` runs

- the factorial sweep with the FIFO scheduler (every cell for ``--epochs`` epochs), and
- the same sweep, same training seed, with ASHA (``grace_period 1, reduction_factor 3,
  max_t = epochs``: rungs at 1, 3, 9 epochs), ``tune.seed = r`` and the trial order
  shuffled by ``r`` (ASHA is asynchronous: which trials arrive first at a rung matters).

Both run 2 trials at a time (the machine's cores). Epochs are counted as the sum over trials
of the results each reported (one per epoch trained; a paused trial that goes on keeps
counting, where Tune's ``training_iteration`` would start again). A cell's metric is its last reported ``val/top1``;
training is deterministic for a (cell, seed), so a cell ASHA trains to the end scores exactly
what the factorial sweep gave it.

Target (median over repeats): ASHA's best within 0.5 points of the factorial best, using at
most 1/3 of the factorial's epochs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import log, machine, run, shutdown, sweep_plan, write_result

GAP_POINTS = 0.5
BUDGET = 1 / 3

SWEEP = """
search:
  optimizer.lr: [0.001, 0.003, 0.01, 0.03, 0.1, 0.2]
  model.head:
    - {{type: LinearClsHead}}
    - {{type: StackedLinearClsHead, mid_channels: [64], dropout_rate: 0.1}}
  seeds: [{seed}]
train: {{epochs: {epochs}, num_threads: 1}}
tune:
  strategy: factorial
  metric: val/top1
  mode: max
  scheduler: {scheduler}
  seed: {seed}
{asha}scaling: {{num_workers: 1}}
"""
ASHA = "  asha: {{grace_period: 1, reduction_factor: {rf:g}, max_t: {epochs}}}\n"


def sweep_figures(outcome, timeline, wall: float) -> dict:
    by_name = {t.name: t for t in timeline.ordered()}
    trials = []
    for t in outcome.trials:
        tl = by_name.get(t.name)
        trials.append(
            {
                "cell": t.point,
                "epochs": tl.epochs_trained if tl else int(t.metrics.get("epoch", 0)),
                "val_top1": float(t.metrics.get("val/top1", float("nan"))),
                "status": t.status,
            }
        )
    best = max(trials, key=lambda x: x["val_top1"])
    return {
        "wall_s": round(wall, 1),
        "epochs": sum(x["epochs"] for x in trials),
        "best_val_top1": round(best["val_top1"], 3),
        "best_cell": best["cell"],
        "trials": trials,
    }


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=9)
    ap.add_argument("--max-concurrent", type=int, default=2)
    ap.add_argument("--reduction-factor", type=float, default=3)
    ap.add_argument("--out", default="asha.json", help="file name under bench/results/")
    args = ap.parse_args()
    info = machine()
    repeats = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ablate-bench-") as tmp_str:
        tmp = Path(tmp_str)
        for r in range(args.repeats):
            rep: dict = {"seed": r}
            for scheduler in ("fifo", "asha"):
                plan = sweep_plan(
                    tmp,
                    f"asha_bench_{scheduler}_{r}",
                    SWEEP.format(
                        seed=r,
                        epochs=args.epochs,
                        scheduler=scheduler,
                        asha=ASHA.format(epochs=args.epochs, rf=args.reduction_factor)
                        if scheduler == "asha"
                        else "",
                    ),
                )
                if scheduler == "asha":
                    # run_sweep hands Tune plan.trials in order; ASHA's outcome depends on it.
                    random.Random(r).shuffle(plan.trials)
                    rep["asha_order"] = [t.point for t in plan.trials]
                outcome, timeline, wall = run(plan, tmp / "ray", args.max_concurrent)
                rep[scheduler] = sweep_figures(outcome, timeline, wall)
                log(
                    f"repeat {r + 1}/{args.repeats} {scheduler}: best "
                    f"{rep[scheduler]['best_val_top1']:.2f} with {rep[scheduler]['epochs']} "
                    f"epochs in {wall:.0f}s"
                )
            rep["gap_points"] = round(
                rep["fifo"]["best_val_top1"] - rep["asha"]["best_val_top1"], 3
            )
            rep["epoch_fraction"] = round(rep["asha"]["epochs"] / rep["fifo"]["epochs"], 3)
            repeats.append(rep)
        shutdown()

    gap = statistics.median(r["gap_points"] for r in repeats)
    frac = statistics.median(r["epoch_fraction"] for r in repeats)
    result = {
        "benchmark": "ASHA search efficiency",
        "target": f"median over repeats: gap <= {GAP_POINTS} points of val/top1 with "
        f"<= {BUDGET:.3f} of the factorial's epochs",
        "command": "python bench/bench_asha.py " + " ".join(sys.argv[1:]),
        "machine": info,
        "setup": {
            "space": "optimizer.lr {0.001..0.2} x 6 levels x model.head {Linear, MLP} = 12 cells",
            "epochs": args.epochs,
            "asha": {
                "grace_period": 1,
                "reduction_factor": args.reduction_factor,
                "max_t": args.epochs,
            },
            "max_concurrent": args.max_concurrent,
            "repeats": args.repeats,
        },
        "median_gap_points": gap,
        "median_epoch_fraction": frac,
        "target_met": gap <= GAP_POINTS and frac <= BUDGET,
        "total_wall_s": round(time.perf_counter() - t_start, 1),
        "repeats": repeats,
    }
    out = write_result(args.out, result)
    log(f"wrote {out}")
    for r in repeats:
        print(
            f"seed {r['seed']}: factorial best {r['fifo']['best_val_top1']:.2f} "
            f"({r['fifo']['epochs']} epochs), ASHA best {r['asha']['best_val_top1']:.2f} "
            f"({r['asha']['epochs']} epochs, {r['epoch_fraction']:.2f}), gap {r['gap_points']:.2f}"
        )
    print(f"median gap {gap:.2f} points, median epoch fraction {frac:.3f}")
    return result


if __name__ == "__main__":
    main()
