"""Chaos: one sweep of 30 trials while random SIGKILLs hit the driver, trial processes and
the MLflow server, each brought back (``bench/chaos.py``); the damage counted from MLflow,
and the wall time against the same sweep uninterrupted, side by side on one server.

    python bench/bench_chaos.py --kills 9 --seed 0   # writes bench/results/chaos.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

from chaos import TARGETS, Chaos, Server, damage, sweep_text, uninterrupted

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._common import machine, write_result  # noqa: E402

NECKS, SEEDS = 5, 6  # 30 trials
#: Long enough on two quiet cores (about 2 minutes uninterrupted) that every kill lands
#: mid-sweep; at 3 epochs of 400 samples the sweep ended after 2 of 9 kills.
EPOCHS, LIMIT = 8, 1000


def _sweep(where: Path, name: str, epochs: int, limit: int) -> Path:
    where.mkdir()
    (where / "sweep.yaml").write_text(sweep_text(name, NECKS, SEEDS, epochs, limit))
    return where


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=9, help="SIGKILLs, spread over the targets")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gap", type=float, nargs=2, default=(3.0, 8.0), metavar=("MIN", "MAX"))
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--limit", type=int, default=LIMIT, help="Digits samples")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    kills = [TARGETS[i % len(TARGETS)] for i in range(args.kills)]
    rng.shuffle(kills)
    with tempfile.TemporaryDirectory(prefix="ablate-chaos-") as tmp:
        tmp = os.environ.get("ABLATE_CHAOS_KEEP", tmp)
        root = Path(tmp)
        server = Server(root)
        server.start()
        try:
            calm_s = uninterrupted(
                _sweep(root / "calm", "calm", args.epochs, args.limit), server, timeout=3600
            )
            chaos = Chaos(
                _sweep(root / "chaos", "chaos", args.epochs, args.limit),
                server,
                kills,
                tuple(args.gap),
                rng,
            )  # type: ignore[arg-type]
            chaos_s = chaos.run(timeout=7200)
            pairs = NECKS * SEEDS
            out = {
                "machine": machine(),
                "trials": pairs,
                "epochs": args.epochs,
                "samples": args.limit,
                "kills": [e["target"] for e in chaos.events],
                "driver_runs": chaos.driver_runs,
                "uninterrupted_s": round(calm_s, 1),
                "chaos_s": round(chaos_s, 1),
                "ratio": round(chaos_s / calm_s, 2),
                "calm": damage(server.uri, "calm", pairs, args.epochs),
                **damage(server.uri, "chaos", pairs, args.epochs),
            }
        finally:
            server.stop()
    write_result("chaos.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
