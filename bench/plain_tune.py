"""What a user would write without ablate: a plain Ray Tune script with MLflow's own
callback, training the probe of ``bench_probe.py`` (the same network and data, built through
``ablate.train.build`` so they are identical) with a plain PyTorch loop.

One Tune trial per seed, 1 CPU and 1 thread each; each epoch trains, validates and calls
``tune.report``; ``MLflowLoggerCallback`` logs every result to a SQLite store here. No
checkpoints (a plain script without fault tolerance: the cheapest fair version).

Run: ``python bench/plain_tune.py --epochs 20 --seeds 8`` (bench_probe.py runs it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import torch
from ray import tune
from ray.air.integrations.mlflow import MLflowLoggerCallback

sys.path.insert(0, str(Path(__file__).resolve().parent))


def train_fn(config: dict[str, Any]) -> None:
    from bench_probe import _resolved
    from torch.utils.data import DataLoader

    from ablate.config import Config
    from ablate.train.build import build_datasets, build_model, build_optimizer, sample_batch

    torch.set_num_threads(1)
    torch.manual_seed(config["seed"])
    cfg = Config(_resolved(config["epochs"], config["seed"]), "<plain>")
    train_set, val_set = build_datasets(cfg)
    built = build_model(cfg, sample_batch(train_set))
    model, losses = built.model, built.losses
    optimizer, _ = build_optimizer(cfg, list(model.parameters()), config["epochs"])
    loader = DataLoader(train_set, batch_size=64, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=64)
    for epoch in range(config["epochs"]):
        model.train()
        for batch in loader:
            loss, _ = losses(model(batch)["training_feat"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        hits = n = 0
        with torch.no_grad():
            for batch in val_loader:
                logits = model(batch)["inference_feat"]["logits"]
                hits += int((logits.argmax(1) == batch["labels"]).sum())
                n += len(batch["labels"])
        tune.report({"epoch": epoch + 1, "val_top1": 100.0 * hits / n, "loss": float(loss)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    here = Path.cwd()
    import ray

    bench = Path(__file__).resolve().parent
    path = os.pathsep.join([str(bench), str(bench.parent), os.environ.get("PYTHONPATH", "")])
    # address="local": never attach to another Ray cluster running on this machine.
    ray.init(address="local", runtime_env={"env_vars": {"PYTHONPATH": path}})
    tuner = tune.Tuner(
        tune.with_resources(train_fn, {"cpu": 1}),
        param_space={"seed": tune.grid_search(list(range(args.seeds))), "epochs": args.epochs},
        tune_config=tune.TuneConfig(metric="val_top1", mode="max"),
        run_config=tune.RunConfig(
            name="probe",
            storage_path=str(here / "ray_results"),
            callbacks=[
                MLflowLoggerCallback(
                    tracking_uri=f"sqlite:///{here / 'mlflow.db'}", experiment_name="probe"
                )
            ],
        ),
    )
    grid = tuner.fit()
    print(grid.get_best_result().metrics["val_top1"])


if __name__ == "__main__":
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    main()
