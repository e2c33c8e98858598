"""Reliability: SIGKILL the sweep driver at random moments, run it again, count the damage.

For each of ``--repeats`` runs: start a fresh sweep, kill the driver's process group after a
random delay, re-run the same command to completion, then read MLflow: trials lost (pairs
without a FINISHED run), duplicate child runs per (cell, seed), and epochs missing or
logged twice. The interrupted-and-resumed wall time is compared with an uninterrupted run of
the same sweep, measured side by side in the same process.

    python bench/bench_faults.py --repeats 5   # writes bench/results/faults.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = f"""
name: faults
_base_: {ROOT / "configs" / "digits_resnet.yaml"}
model: {{backbone: {{base_channels: 8}}}}
data: {{dataset: {{type: Digits, limit: 400}}, batch_size: 50}}
search:
  model.neck: [{{type: GlobalAveragePooling}}, {{type: GeneralizedMeanPooling}}]
  seeds: [0, 1]
train: {{epochs: 3, num_threads: 1}}
"""
PAIRS, EPOCHS = 4, 3


def _run(cwd: Path, kill_at: tuple[int, float] | None) -> tuple[float, bool]:
    """Run the sweep; with ``kill_at=(k, delay)``, SIGKILL its process group ``delay`` seconds
    after the k-th trial checkpoint appears (a moment inside the sweep, whatever the load)."""
    env = {**os.environ, "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ablate.cli", "run", "sweep.yaml"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    killed = False
    if kill_at is not None:
        k, delay = kill_at
        ckpts = cwd / ".ablate" / "ray" / "faults" / "checkpoints"
        while proc.poll() is None and len(list(ckpts.glob("*/state.pt"))) < k:
            time.sleep(0.1)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
    proc.wait()
    return time.perf_counter() - t0, killed


def _damage(cwd: Path) -> dict[str, int]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{cwd / 'mlflow.db'}")
    exp = client.get_experiment_by_name("faults")
    runs = client.search_runs([exp.experiment_id], "tags.`ablate.role` = 'trial'", max_results=1000)
    per_pair = Counter((r.data.tags["ablate.cell"], r.data.tags["ablate.seed"]) for r in runs)
    finished = {
        (r.data.tags["ablate.cell"], r.data.tags["ablate.seed"])
        for r in runs
        if r.info.status == "FINISHED"
    }
    bad_epochs = 0
    for r in runs:
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "val/top1")]
        bad_epochs += int(sorted(steps) != list(range(1, EPOCHS + 1)))
    return {
        "trials_lost": PAIRS - len(finished),
        "duplicate_runs": sum(n - 1 for n in per_pair.values()),
        "runs_with_missing_or_repeated_epochs": bad_epochs,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows = []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            clean, hurt = Path(a), Path(b)
            (clean / "sweep.yaml").write_text(SWEEP)
            (hurt / "sweep.yaml").write_text(SWEEP)
            uninterrupted, _ = _run(clean, None)
            kill_at = (rng.randint(1, PAIRS), rng.uniform(0.0, 3.0))
            first, killed = _run(hurt, kill_at)
            second, _ = _run(hurt, None)
            row = {
                "repeat": i,
                "uninterrupted_s": round(uninterrupted, 1),
                "killed_after_checkpoint": kill_at[0],
                "killed": killed,
                "killed_after_s": round(first, 1),
                "killed_plus_resumed_s": round(first + second, 1),
                "ratio": round((first + second) / uninterrupted, 2),
                **_damage(hurt),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    ratios = sorted(r["ratio"] for r in rows)
    out = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d"),
        "repeats": rows,
        "median_ratio": ratios[len(ratios) // 2],
        "max_ratio": ratios[-1],
        "trials_lost": sum(r["trials_lost"] for r in rows),
        "duplicate_runs": sum(r["duplicate_runs"] for r in rows),
        "runs_with_missing_or_repeated_epochs": sum(
            r["runs_with_missing_or_repeated_epochs"] for r in rows
        ),
    }
    path = ROOT / "bench" / "results" / "faults.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "repeats"}, indent=2))


if __name__ == "__main__":
    main()
