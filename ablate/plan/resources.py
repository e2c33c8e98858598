"""What a trial asks of a cluster, and how many trials fit on it at once.

Pure arithmetic over node resource dicts (``{'CPU': 8, 'GPU': 2}``, what ``ray.nodes()``
reports), so ``ablate plan``, ``ablate run`` and the tests share it without starting Ray.

The design that avoids the classic Tune + Train deadlock: a trial that launches a
``TorchTrainer`` only waits on its workers, so its Tune driver reserves no CPU. A 2-worker
trial on a 2-CPU machine then runs, where a driver holding one CPU would leave its second
worker waiting forever.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ablate.errors import AblateError
from ablate.settings import ScalingSettings


@dataclass(frozen=True)
class Resources:
    """What one trial holds while it runs.

    ``inline`` trials (one worker, CPU or GPU) train inside the Tune trial process and hold
    one worker's resources, a GPU share included. Ray Train trials hold none in the driver
    (it only waits) and ``num_workers`` worker bundles, all of which must fit at once.
    """

    inline: bool
    num_workers: int
    worker: dict[str, float]
    placement: str = "PACK"

    @property
    def driver(self) -> dict[str, float]:
        """Tune's resource request for the trial process (lower-case keys, Tune's form)."""
        if self.inline:
            return {k.lower(): v for k, v in self.worker.items()}
        # A zero-CPU driver: Tune refuses an empty request, so ask for one byte of memory.
        return {"cpu": 0, "memory": 1}

    @property
    def bundles(self) -> int:
        """Worker bundles one trial places at once."""
        return 1 if self.inline else self.num_workers

    def total(self) -> dict[str, float]:
        return {k: v * self.bundles for k, v in self.worker.items() if v}

    @property
    def use_gpu(self) -> bool:
        """Each worker holds some GPU (a whole one, or a share of one)."""
        return self.worker.get("GPU", 0.0) > 0

    @property
    def trials_per_gpu(self) -> int:
        """How many trials share one GPU (1 unless each worker holds a fraction)."""
        gpu = self.worker.get("GPU", 0.0)
        return max(1, math.floor(1 / gpu + 1e-9)) if 0 < gpu < 1 and self.inline else 1


def trial_resources(s: ScalingSettings) -> Resources:
    worker = {"CPU": 1.0}
    for k, v in (s.resources_per_worker or {}).items():
        worker[k.upper() if k.lower() in ("cpu", "gpu") else k] = float(v)
    if s.gpus_per_trial is not None:
        worker["GPU"] = float(s.gpus_per_trial)
    if s.use_gpu:
        worker["GPU"] = worker.get("GPU", 1.0) or 1.0
    # One worker trains in the Tune trial process, on CPU or on its GPU (share): a worker
    # group and a process group would cost ~10 s per trial and buy nothing (BENCHMARKS.md).
    inline = s.num_workers == 1 and not s.ray_train
    return Resources(inline, s.num_workers, worker, s.placement_strategy)


def _key(res: Resources, resource: str) -> str:
    if resource == "GPU":
        return "scaling.gpus_per_trial" if res.trials_per_gpu > 1 else "scaling.use_gpu"
    if resource == "CPU" and res.worker.get("CPU", 1.0) == 1.0:
        return "scaling.num_workers"
    return f"scaling.resources_per_worker.{resource}"


def _per_node(res: Resources, node: Mapping[str, float]) -> int:
    """How many worker bundles fit on one node."""
    demands = [(k, v) for k, v in res.worker.items() if v]
    if not demands:
        return 1 << 30
    return min(math.floor(node.get(k, 0.0) / v + 1e-9) for k, v in demands)


def concurrency(res: Resources, nodes: list[dict[str, float]], user_max: int | None = None) -> int:
    """How many trials fit at once on a cluster with these nodes' resources.

    Bundles are counted per node (a worker never spans nodes); ``STRICT_PACK`` keeps a
    trial's workers on one node and ``STRICT_SPREAD`` puts each on its own node.

    Raises:
        AblateError: a trial can never fit: more of a resource than the cluster has, a
            worker bundle larger than every node, or workers its placement cannot place;
            or ``user_max`` below 1.
    """
    if not nodes:
        raise AblateError("the Ray cluster reports no nodes")
    if user_max is not None and user_max < 1:
        raise AblateError(
            f"expected at least 1 trial at once, got {user_max}", key="max_concurrent"
        )
    totals: dict[str, float] = {}
    for node in nodes:
        for k, v in node.items():
            totals[k] = totals.get(k, 0.0) + v
    # GPUs first: on a GPU-less machine that is the reason a GPU sweep cannot run.
    for k, v in sorted(res.total().items(), key=lambda kv: kv[0] != "GPU"):
        have = totals.get(k, 0.0)
        if v > have + 1e-9:
            what = f"{res.bundles} workers x {res.worker[k]:g} {k} = " if not res.inline else ""
            hint = (
                "set scaling.use_gpu: false, or run on a cluster with GPUs"
                if k == "GPU"
                else "lower scaling.num_workers or scaling.resources_per_worker"
            )
            raise AblateError(
                f"a trial needs {what}{v:g} {k} but the cluster has {have:g}: it can never start",
                key=_key(res, k),
                hint=hint,
            )
    for k, v in res.worker.items():
        if v and not any(node.get(k, 0.0) + 1e-9 >= v for node in nodes):
            biggest = max(node.get(k, 0.0) for node in nodes)
            raise AblateError(
                f"one worker needs {v:g} {k} but the largest node has {biggest:g}: it can never start",
                key=f"scaling.resources_per_worker.{k}",
            )
    per = [_per_node(res, node) for node in nodes]
    n = res.bundles
    if res.placement == "STRICT_PACK":
        fits = sum(b // n for b in per)
    elif res.placement == "STRICT_SPREAD":
        # T trials fit when every trial finds n distinct nodes: sum(min(b, T)) >= n*T.
        fits = 0
        while fits < sum(per) and sum(min(b, fits + 1) for b in per) >= n * (fits + 1):
            fits += 1
    else:
        fits = sum(per) // n
    if fits < 1:
        raise AblateError(
            f"{n} workers cannot be placed {res.placement}: the nodes hold {per} workers each; "
            "it can never start",
            key="scaling.placement_strategy",
            hint="lower scaling.num_workers, or use placement_strategy: PACK",
        )
    return min(fits, user_max) if user_max else fits


def local_nodes(gpus: bool = True) -> list[dict[str, float]]:
    """This machine as a one-node cluster (what a local ``ray.init`` would see).

    Counting GPUs imports torch (1.2 to 1.5 s); ``gpus=False``, for a plan that asks for
    none, leaves it out, so the local Ray can start that much sooner."""
    count = 0
    if gpus:
        try:
            import torch

            count = torch.cuda.device_count()
        except Exception:  # pragma: no cover - a broken CUDA install still plans on CPU
            count = 0
    return [{"CPU": float(os.cpu_count() or 1), "GPU": float(count)}]


__all__ = ["Resources", "concurrency", "local_nodes", "trial_resources"]
