"""Packed GPU trials on a local Ray that declares one GPU this machine does not have.

``ray.init(num_gpus=1)`` makes Ray schedule against a GPU resource; torch here has no CUDA,
so the device code falls back to CPU. What this shows: the resource arithmetic (4 trials of
0.25 GPU on one GPU), that Ray really places 4 such trials at once and gives each the same
GPU id (``CUDA_VISIBLE_DEVICES=0``), and that a packed sweep runs inline to the end, its
trials training on CPU because CUDA is absent. What it cannot show: docs/gpu.md, "Checked
on CPU only".
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SWEEP = """
name: packed
_base_: {root}/configs/digits_resnet.yaml
model:
  backbone: {{base_channels: 4, num_stages: 2, strides: [1, 2], out_indices: [1]}}
data:
  dataset: {{type: Digits, limit: 96}}
  batch_size: 32
train: {{epochs: 1, num_threads: 1, image_every: 0}}
search:
  optimizer.lr: [0.05]
  seeds: [0, 1]
scaling: {{num_workers: 1, gpus_per_trial: 0.25, resources_per_worker: {{CPU: 0.5}}}}
"""


def test_four_quarter_gpu_trials_share_one_declared_gpu(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    from ablate.config import load_config
    from ablate.layout import FINISHED
    from ablate.plan import check_fits, make_plan
    from ablate.run.driver import run_sweep
    from ablate.run.session import cluster_nodes, worker_env

    path = tmp_path / "packed.yaml"
    path.write_text(SWEEP.format(root=root))
    plan = make_plan(load_config(path))
    assert plan.resources.inline and plan.resources.trials_per_gpu == 4
    assert plan.resources.driver == {"cpu": 0.5, "gpu": 0.25}

    for key, value in worker_env().items():  # what ablate's own local Ray gets
        monkeypatch.setenv(key, value)
    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=1,  # declared: this machine has none, and torch here has no CUDA
        include_dashboard=False,
        log_to_driver=False,
    )
    try:
        nodes = cluster_nodes()
        assert nodes[0]["GPU"] == 1.0
        assert check_fits(plan, nodes) == 4

        @ray.remote(num_cpus=0)
        class Barrier:
            def __init__(self) -> None:
                self.n = 0

            def arrive(self) -> None:
                self.n += 1

            def count(self) -> int:
                return self.n

        # Defined here, not at module level: Ray pickles it by value for its workers.
        def _probe(n: int, barrier: object) -> tuple[list[str], bool, str | None]:
            """What a trial holding a GPU share sees: its GPU ids, whether all ``n`` probes
            ran at the same time, and its CUDA_VISIBLE_DEVICES. (No torch import: four
            worker processes importing torch cost more than the rest of this test.)"""
            import os

            import ray

            ray.get(barrier.arrive.remote())  # type: ignore[attr-defined]
            deadline = time.monotonic() + 60
            together = False
            while time.monotonic() < deadline and not together:
                together = ray.get(barrier.count.remote()) >= n  # type: ignore[attr-defined]
                time.sleep(0.05)
            ids = [str(i) for i in ray.get_runtime_context().get_accelerator_ids()["GPU"]]
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            return ids, together, visible

        barrier = Barrier.remote()  # type: ignore[attr-defined]
        probe = ray.remote(_probe).options(num_cpus=0.5, num_gpus=0.25)  # the trial's request
        seen = ray.get([probe.remote(4, barrier) for _ in range(4)], timeout=120)
        assert all(s[1] for s in seen), "Ray did not run 4 trials at once"
        assert {tuple(s[0]) for s in seen} == {("0",)}  # one GPU, shared
        assert {s[2] for s in seen} == {"0"}  # what torch would see as cuda:0

        # The real thing: inline trials holding 0.25 GPU each, whose device falls back to
        # CPU (were it cuda, the CPU build of torch would fail the first batch).

        outcome = run_sweep(plan, storage=str(tmp_path / "ray"), printer=lambda s: None)
    finally:
        ray.shutdown()
    assert outcome.concurrency == 4
    assert [t.status for t in outcome.trials] == [FINISHED, FINISHED], [
        t.error for t in outcome.trials
    ]
    assert all(t.metrics["epoch"] == 1 for t in outcome.trials)
