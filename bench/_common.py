"""Shared helpers of the sweep benchmarks: a bare PyTorch loop, sweep plans from YAML text, a
Tune callback that records each trial's timeline, machine facts, and summary statistics.

The bare loop is the reference every overhead is measured against. It builds the same model,
datasets and optimizer through ``ablate.train.build`` (so the network is identical) but trains with
plain PyTorch: no ablate loop, no Runtime, no reports, no checkpoints.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
BASE_CONFIG = ROOT / "configs" / "digits_resnet.yaml"

os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
# Ray starts its worker processes (every trial) at nice 15; the bare loop runs here at nice 0.
# On a shared machine that alone would slow trials, so the benchmarks run Ray's workers at
# this process's niceness. Set RAY_worker_niceness=15 to measure with Ray's default.
NICENESS_VAR = "RAY_worker_niceness"  # a Ray system config, read from the environment
os.environ.setdefault(NICENESS_VAR, str(os.nice(0)))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from ablate.config import Config, load_config  # noqa: E402
from ablate.plan import SweepPlan, make_plan  # noqa: E402
from ablate.search.resolve import resolve  # noqa: E402
from ablate.settings import data_settings, train_settings  # noqa: E402
from ablate.train.build import (  # noqa: E402
    build_datasets,
    build_model,
    build_optimizer,
    sample_batch,
)

# --- the bare loop ---------------------------------------------------------------------------


@dataclass
class BareRun:
    """One bare run: total wall (build + every epoch + validation) and per-epoch train times."""

    wall_s: float
    build_s: float
    train_epoch_s: list[float]
    epoch_wall_s: list[float]
    samples_per_epoch: int
    val_top1: float
    #: CPU seconds of each training pass (this thread's): robust to other processes' load.
    train_epoch_cpu_s: list[float] = field(default_factory=list)


def _tensor_batches(dataset: Any, batch_size: int, generator: Any = None) -> Any:
    """What a user writes for in-memory tensors: index the whole tensors with each batch of
    a permutation (or in order without a generator)."""
    n = len(dataset.labels)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for idx in order.split(batch_size):
        yield {"inputs": dataset.inputs[idx], "labels": dataset.labels[idx]}


def bare_run(resolved: dict[str, Any], file: str = "<bench>", fetch: str = "loader") -> BareRun:
    """Train ``resolved`` with a plain PyTorch loop; same threads, data, model, epochs.

    ``fetch``: ``loader`` (a DataLoader, item by item) or ``tensor`` (the bare tensor loop:
    the dataset's ``inputs``/``labels`` tensors indexed per batch, no DataLoader).
    """
    cfg = Config(resolved, file)
    settings, data = train_settings(cfg), data_settings(cfg)
    torch.set_num_threads(int(settings.num_threads or 1))
    torch.manual_seed(settings.seed)
    t0 = time.perf_counter()
    train_set, val_set = build_datasets(cfg)
    built = build_model(cfg, sample_batch(train_set))
    model, losses = built.model, built.losses
    optimizer, scheduler = build_optimizer(
        cfg, [p for p in model.parameters() if p.requires_grad], settings.epochs
    )
    generator = torch.Generator().manual_seed(settings.seed)
    val_batch = data.val_batch_size or data.batch_size
    if fetch == "tensor":
        loader: Any = _Reiterable(lambda: _tensor_batches(train_set, data.batch_size, generator))
        val_loader: Any = _Reiterable(lambda: _tensor_batches(val_set, val_batch))
    else:
        loader = DataLoader(
            train_set, batch_size=data.batch_size, shuffle=True, generator=generator
        )
        val_loader = DataLoader(val_set, batch_size=val_batch)
    build_s = time.perf_counter() - t0
    epoch_times, epoch_walls, epoch_cpu, top1 = [], [], [], 0.0
    for _ in range(settings.epochs):
        model.train()
        te, ce = time.perf_counter(), time.thread_time()
        for batch in loader:
            loss, _ = losses(model(batch)["training_feat"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        epoch_times.append(time.perf_counter() - te)
        epoch_cpu.append(time.thread_time() - ce)
        if scheduler is not None:
            scheduler.step()
        model.eval()
        hits = n = 0
        with torch.no_grad():
            for batch in val_loader:
                out = model(batch)
                losses(out["training_feat"])
                hits += int((out["inference_feat"]["logits"].argmax(1) == batch["labels"]).sum())
                n += len(batch["labels"])
        top1 = 100.0 * hits / max(n, 1)
        epoch_walls.append(time.perf_counter() - te)
    return BareRun(
        time.perf_counter() - t0,
        build_s,
        epoch_times,
        epoch_walls,
        len(train_set),
        top1,
        epoch_cpu,
    )


class _Reiterable:
    def __init__(self, make: Any) -> None:
        self.make = make

    def __iter__(self) -> Any:
        return iter(self.make())


# --- sweeps ----------------------------------------------------------------------------------


def sweep_plan(tmp: Path, name: str, body: str, overrides: list[str] = ()) -> SweepPlan:  # type: ignore[assignment]
    """A plan from a sweep file whose ``_base_`` is ``configs/digits_resnet.yaml``."""
    path = tmp / f"{name}.yaml"
    path.write_text(f"name: {name}\n_base_: {BASE_CONFIG}\n{body}")
    return make_plan(load_config(path, overrides))


def resolved_configs(plan: SweepPlan) -> list[dict[str, Any]]:
    return [resolve(plan.base, plan.space, t.point, t.seed) for t in plan.trials]


@dataclass
class TrialTimes:
    """What the driver saw of one trial, in wall-clock seconds (``time.time()``)."""

    name: str
    start: float = 0.0
    complete: float = 0.0
    results: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    error: bool = False

    @property
    def wall_s(self) -> float:
        return self.complete - self.start

    @property
    def iterations(self) -> int:
        return int(self.results[-1][1].get("training_iteration", 0)) if self.results else 0

    @property
    def epochs_trained(self) -> int:
        """Epochs this trial trained: one result each, but for the epochs a trial that went
        on from its checkpoint reports again. A paused trial's ``training_iteration``
        starts again when it goes on; this count does not."""
        return sum("ablate_restored" not in r for _, r in self.results)

    def last(self, key: str) -> Any:
        return self.results[-1][1].get(key) if self.results else None


def timeline_callback() -> Any:
    """A Tune callback recording on_trial_start / each result / on_trial_complete times."""
    from ray.tune import Callback

    keep = ("training_iteration", "time_total_s", "time_this_iter_s", "epoch", "ablate_restored")

    class Timeline(Callback):
        def __init__(self) -> None:
            self.trials: dict[str, TrialTimes] = {}
            self.fit_start = time.time()

        def _get(self, trial: Any) -> TrialTimes:
            return self.trials.setdefault(str(trial), TrialTimes(str(trial)))

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._get(trial).start = time.time()

        def on_trial_result(
            self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
        ) -> None:
            kept = {
                k: v
                for k, v in result.items()
                if k in keep or k.startswith(("val/", "time/", "train/loss"))
            }
            self._get(trial).results.append((time.time(), kept))

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._get(trial).complete = time.time()

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            rec = self._get(trial)
            rec.complete, rec.error = time.time(), True

        def ordered(self) -> list[TrialTimes]:
            return sorted(self.trials.values(), key=lambda t: t.start)

    return Timeline()


def run(plan: SweepPlan, storage: Path, max_concurrent: int = 1) -> tuple[Any, Any, float]:
    """Run ``plan`` on the in-process Ray (started on first use); (outcome, timeline, wall)."""
    from ablate.run.driver import run_sweep

    cb = timeline_callback()
    t0 = time.time()
    cb.fit_start = t0
    outcome = run_sweep(
        plan,
        max_concurrent=max_concurrent,
        storage=str(storage),
        callbacks=[cb],
        printer=lambda s: None,
    )
    failed = [t for t in outcome.trials if t.status == "FAILED"]
    if failed:
        raise RuntimeError(f"{len(failed)} trials failed, e.g. {failed[0].name}: {failed[0].error}")
    return outcome, cb, time.time() - t0


# --- reporting -------------------------------------------------------------------------------


def summary(values: list[float], digits: int = 3) -> dict[str, Any]:
    """Median and spread of ``values``."""
    if not values:
        return {"n": 0}
    qs = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {
        "n": len(values),
        "median": round(statistics.median(values), digits),
        "p25": round(qs[0], digits),
        "p75": round(qs[2], digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "values": [round(v, digits) for v in values],
    }


def machine() -> dict[str, Any]:
    import ray

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem_gb = round(kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ray": ray.__version__,
        "ray_worker_niceness": int(os.environ[NICENESS_VAR]),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    if "machine" in result:
        result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = RESULTS / name
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out


_T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _T0:6.1f}s] {msg}", flush=True)


def shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
