"""Every sweep-file mistake is exit 2 before anything starts, naming the file, the config
path, what was expected and a close match.

The pattern of ``tests/test_bad_input.py``: one table; each row writes files into the test's
empty working directory and runs ``ablate.cli.main(argv)`` in-process. The error is one
stderr line, except where a row lists several model combinations that do not build: then
each has its own line and the last line is the summary. ``where`` is the ``FILE: KEY`` the
(last) line must start with, right after ``error: ``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from ablate.cli import main
from ablate.errors import EXIT_USER_ERROR

#: A small, valid training config; every sweep inherits it.
BASE = """\
model:
  type: ImageClassifier
  backbone: {type: ResNet_CIFAR, depth: 18, in_channels: 1, base_channels: 4, num_stages: 2, strides: [1, 2], out_indices: [1]}
  neck: {type: GlobalAveragePooling}
  head: {type: LinearClsHead, num_classes: 10, topk: [1]}
data:
  dataset: {type: Digits, limit: 16}
  batch_size: 8
optimizer: {type: SGD, lr: 0.05}
train: {epochs: 2, num_threads: 1}
"""

NECKS = "  model.neck: [{type: GlobalAveragePooling}, {type: Flatten}]\n"
HEADS = "  model.head: [{type: LinearClsHead}, {type: StackedLinearClsHead, mid_channels: [8]}]\n"
SEARCH = "search:\n" + NECKS + HEADS
BASELINE = "{neck: GlobalAveragePooling, head: LinearClsHead}"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Dry builds on 2-sample batches gain nothing from threads on 2 shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sweep(body: str) -> dict[str, str]:
    """``base.yaml`` plus ``sweep.yaml`` inheriting it with ``body``."""
    return {"base.yaml": BASE, "sweep.yaml": "_base_: base.yaml\n" + body}


class Row(NamedTuple):
    files: dict[str, str]
    where: str
    expected: list[str]
    argv: tuple[str, ...] = ("plan", "sweep.yaml")
    #: Combinations listed above the summary line (0: the error is the only line).
    listed: int = 0


ROWS: dict[str, Row] = {
    # -- the search block ---------------------------------------------------------------------
    "empty-search": Row(
        sweep("search: {}\n"), "sweep.yaml: search", ["the search space is empty", "model.neck"]
    ),
    "no-search": Row(sweep("tune: {}\n"), "sweep.yaml: search", ["the search space is empty"]),
    "search-not-a-mapping": Row(
        sweep("search: [model.neck]\n"), "sweep.yaml: search", ["expected a mapping"]
    ),
    "unknown-dimension": Row(
        sweep("search:\n  optimizer.lrr: [0.1, 0.01]\n"),
        "sweep.yaml: search.optimizer.lrr",
        ["unknown dimension 'optimizer.lrr'", "(did you mean 'optimizer.lr'?)"],
    ),
    "unknown-dimension-section": Row(
        sweep("search:\n  modle.neck: [{type: Flatten}]\n"),
        "sweep.yaml: search.modle.neck",
        ["unknown dimension 'modle.neck'", "(did you mean 'model.neck'?)"],
    ),
    "dimension-the-component-does-not-take": Row(
        sweep("search:\n  model.neck.p: [2.0, 3.0]\n"),
        "sweep.yaml: search.model.neck.p",
        ["GlobalAveragePooling takes no argument 'p'"],
    ),
    "dimension-inside-a-dimension": Row(
        sweep(SEARCH + "  model.head.mid_channels: [[8], [16]]\n"),
        "sweep.yaml: search.model.head.mid_channels",
        ["lies inside dimension 'model.head'", "mid_channels: {choice: [...]}"],
    ),
    "bad-bounds": Row(
        sweep("search:\n  optimizer.lr: {loguniform: [0, 0.1]}\n"),
        "sweep.yaml: search.optimizer.lr.loguniform",
        ["loguniform needs low > 0, got 0"],
    ),
    "bounds-reversed": Row(
        sweep("search:\n  optimizer.momentum: {uniform: [0.99, 0.5]}\n"),
        "sweep.yaml: search.optimizer.momentum.uniform",
        ["low must be below high, got [0.99, 0.5]"],
    ),
    "quniform-step-too-big": Row(
        sweep("search:\n  optimizer.lr: {quniform: [0.01, 0.1, 0.5]}\n"),
        "sweep.yaml: search.optimizer.lr.quniform",
        ["quniform needs 0 < q <= high - low"],
    ),
    "unknown-distribution": Row(
        sweep("search:\n  optimizer.lr: {logunifrom: [1.0e-4, 0.1]}\n"),
        "sweep.yaml: search.optimizer.lr.logunifrom",
        ["unknown distribution 'logunifrom'", "(did you mean 'loguniform'?)"],
    ),
    "duplicate-values": Row(
        sweep("search:\n  optimizer.lr: [0.1, 0.01, 0.1]\n"),
        "sweep.yaml: search.optimizer.lr.grid",
        ["0.1 appears twice"],
    ),
    "duplicate-choice-names": Row(
        sweep(
            "search:\n  model.neck: [{type: GeneralizedMeanPooling, name: pool}, {type: GlobalAveragePooling, name: pool}]\n"
        ),
        "sweep.yaml: search.model.neck.1",
        ["both called 'pool'", "distinct name: labels"],
    ),
    "seeds-a-count": Row(
        sweep(SEARCH + "  seeds: 3\n"),
        "sweep.yaml: search.seeds",
        ["expected a list of integer seeds, got 3", "seeds: [0, 1, 2] for 3"],
    ),
    "seeds-repeated": Row(
        sweep(SEARCH + "  seeds: [0, 1, 1]\n"),
        "sweep.yaml: search.seeds",
        ["duplicate seeds in [0, 1, 1]"],
    ),
    "seeds-not-integers": Row(
        sweep(SEARCH + "  seeds: [0, one]\n"), "sweep.yaml: search.seeds", ["integer seeds"]
    ),
    "adaptive-unknown-option": Row(
        sweep(
            SEARCH
            + "  seeds: {adaptive: {min: 3, maxi: 6}}\n"
            + f"tune: {{baseline: {BASELINE}}}\n"
        ),
        "sweep.yaml: search.seeds.adaptive.maxi",
        ["unknown option 'maxi'", "(did you mean 'max'?)"],
    ),
    "adaptive-max-below-min": Row(
        sweep(
            SEARCH + "  seeds: {adaptive: {min: 5, max: 3}}\n" + f"tune: {{baseline: {BASELINE}}}\n"
        ),
        "sweep.yaml: search.seeds.adaptive.max",
        ["max 3 is below min 5"],
    ),
    "adaptive-one-seed": Row(
        sweep(SEARCH + "  seeds: {adaptive: {min: 1, max: 3}}\n"),
        "sweep.yaml: search.seeds.adaptive.min",
        ["at least 2 seeds to start with"],
    ),
    "adaptive-spending": Row(
        sweep(SEARCH + "  seeds: {adaptive: {spending: pocok}}\n"),
        "sweep.yaml: search.seeds.adaptive.spending",
        ["expected one of obrien_fleming, pocock", "(did you mean 'pocock'?)"],
    ),
    "adaptive-futility": Row(
        sweep(
            SEARCH + "  seeds: {adaptive: {futility: 1.5}}\n" + f"tune: {{baseline: {BASELINE}}}\n"
        ),
        "sweep.yaml: search.seeds.adaptive.futility",
        ["expected a probability in [0, 1) (0: no futility stop), got 1.5"],
    ),
    "adaptive-with-asha": Row(
        sweep(
            SEARCH
            + "  seeds: {adaptive: {min: 3, max: 6}}\n"
            + f"tune: {{baseline: {BASELINE}, scheduler: asha}}\n"
        ),
        "sweep.yaml: tune.scheduler",
        ["adaptive seeds decide on trials trained to the end", "use scheduler fifo"],
    ),
    "ablation-path-with-asha": Row(
        sweep(
            SEARCH + f"tune: {{strategy: ablation_path, baseline: {BASELINE}, "
            "scheduler: {type: asha, grace_period: 1}}\n"
        ),
        "sweep.yaml: tune.scheduler",
        ["ablation_path races cells on trials trained to the end", "use scheduler fifo"],
    ),
    "adaptive-needs-baseline": Row(
        sweep(SEARCH + "  seeds: {adaptive: {min: 3, max: 6}}\n"),
        "sweep.yaml: search.seeds",
        ["adaptive seeds", "need tune.baseline"],
    ),
    "adaptive-not-a-mapping": Row(
        sweep(SEARCH + "  seeds: {min: 3}\n"),
        "sweep.yaml: search.seeds",
        ["expected a list of seeds or {adaptive: {min: 3, max: 10}}"],
    ),
    "min-effect-not-positive": Row(
        sweep(SEARCH + "tune: {min_effect: -1}\n"),
        "sweep.yaml: tune.min_effect",
        ["expected a positive number, got -1"],
    ),
    "ablation-path-needs-baseline": Row(
        sweep(SEARCH + "tune: {strategy: ablation_path}\n"),
        "sweep.yaml: tune.baseline",
        ["ablation_path needs a baseline", "or, without one, to the best cell"],
    ),
    "ablation-path-target-word": Row(
        sweep(SEARCH + f"tune: {{strategy: ablation_path, baseline: {BASELINE}, target: bset}}\n"),
        "sweep.yaml: tune.target",
        ["'best'", "got 'bset'"],
    ),
    "ablation-path-target-unknown-value": Row(
        sweep(
            SEARCH + f"tune: {{strategy: ablation_path, baseline: {BASELINE}, "
            "target: {neck: Flaten, head: LinearClsHead}}\n"
        ),
        "sweep.yaml: tune.target.neck",
        ["'Flaten' is not in the space of neck", "(did you mean 'Flatten'?)"],
    ),
    "asha-promote": Row(
        sweep(SEARCH + "tune: {scheduler: asha, asha: {promote: lbc}}\n"),
        "sweep.yaml: tune.asha.promote",
        ["expected one of mean, lcb, trial", "(did you mean 'lcb'?)"],
    ),
    "asha-wait": Row(
        sweep(SEARCH + "tune: {scheduler: asha, asha: {wait: sometimes}}\n"),
        "sweep.yaml: tune.asha.wait",
        ["expected true or false, got 'sometimes'"],
    ),
    "seed-as-dimension": Row(
        sweep("search:\n  train.seed: [0, 1]\n"),
        "sweep.yaml: search.train.seed",
        ["vary seeds with search.seeds"],
    ),
    # -- strategies and baselines ---------------------------------------------------------------
    "unknown-strategy": Row(
        sweep(SEARCH + "tune: {strategy: one_at_time}\n"),
        "sweep.yaml: tune.strategy",
        ["unknown strategy 'one_at_time'", "(did you mean 'one_at_a_time'?)"],
    ),
    "one-at-a-time-without-baseline": Row(
        sweep(SEARCH + "tune: {strategy: one_at_a_time}\n"),
        "sweep.yaml: tune.baseline",
        ["one_at_a_time needs a baseline"],
    ),
    "baseline-value-not-in-space": Row(
        sweep(
            SEARCH
            + "tune: {strategy: one_at_a_time, baseline: {neck: Flaten, head: LinearClsHead}}\n"
        ),
        "sweep.yaml: tune.baseline.neck",
        ["'Flaten' is not in the space of neck", "(did you mean 'Flatten'?)", "expected one of"],
    ),
    "baseline-names-a-non-dimension": Row(
        sweep(
            SEARCH
            + "tune: {strategy: one_at_a_time, baseline: {model.backbone: ResNet_CIFAR, head: LinearClsHead}}\n"
        ),
        "sweep.yaml: tune.baseline.model.backbone",
        ["'model.backbone' is not a dimension of the search space", "dimensions: neck, head"],
    ),
    "baseline-incomplete": Row(
        sweep(SEARCH + "tune: {strategy: one_at_a_time, baseline: {neck: Flatten}}\n"),
        "sweep.yaml: tune.baseline",
        ["leaves out head", "e.g. head: LinearClsHead"],
    ),
    "unknown-scheduler": Row(
        sweep(SEARCH + "tune: {scheduler: hyperband}\n"),
        "sweep.yaml: tune.scheduler",
        ["unknown scheduler 'hyperband'", "expected one of fifo, asha"],
    ),
    "scheduler-typo": Row(
        sweep(SEARCH + "tune: {scheduler: ashaa}\n"),
        "sweep.yaml: tune.scheduler",
        ["(did you mean 'asha'?)"],
    ),
    "asha-options-without-asha": Row(
        sweep(SEARCH + "tune: {asha: {grace_period: 1}}\n"),
        "sweep.yaml: tune.asha",
        ["tune.scheduler is fifo"],
    ),
    "asha-option-typo": Row(
        sweep(SEARCH + "tune: {scheduler: asha, asha: {grace: 1}}\n"),
        "sweep.yaml: tune.asha.grace",
        ["unknown ASHA option 'grace'", "(did you mean 'grace_period'?)"],
    ),
    "unknown-tune-key": Row(
        sweep(SEARCH + "tune: {metrc: val/top1}\n"),
        "sweep.yaml: tune.metrc",
        ["unknown argument 'metrc' for tune", "(did you mean 'metric'?)"],
    ),
    "tune-mode": Row(
        sweep(SEARCH + "tune: {mode: maximise}\n"),
        "sweep.yaml: tune.mode",
        ["expected 'max' | 'min'", "got 'maximise'"],
    ),
    "sampling-seed-negative": Row(
        sweep(SEARCH + "tune: {seed: -1}\n"), "sweep.yaml: tune.seed", ["expected at least 0"]
    ),
    "num-samples-without-continuous-dims": Row(
        sweep(SEARCH + "tune: {num_samples: 3}\n"),
        "sweep.yaml: tune.num_samples",
        ["factorial runs every cell once", "search.seeds"],
    ),
    "random-more-points-than-the-space": Row(
        sweep(SEARCH + "tune: {strategy: random, num_samples: 5}\n"),
        "sweep.yaml: tune.num_samples",
        ["random asks for 5 distinct points but the space has only 4"],
    ),
    # -- exclude --------------------------------------------------------------------------------
    "exclude-drops-everything": Row(
        sweep(SEARCH + "tune:\n  exclude: [{neck: GlobalAveragePooling}, {neck: Flatten}]\n"),
        "sweep.yaml: tune.exclude",
        ["tune.exclude drops every cell (4 of 4): nothing would run"],
    ),
    "exclude-the-baseline": Row(
        sweep(SEARCH + f"tune:\n  baseline: {BASELINE}\n  exclude: [{{head: LinearClsHead}}]\n"),
        "sweep.yaml: tune.exclude",
        ["the baseline (neck=GlobalAveragePooling, head=LinearClsHead) is excluded"],
    ),
    "exclude-unknown-dimension": Row(
        sweep(SEARCH + "tune:\n  exclude: [{nekc: Flatten}]\n"),
        "sweep.yaml: tune.exclude.0.nekc",
        ["'nekc' is not a dimension", "(did you mean 'neck'?)"],
    ),
    "exclude-matches-nothing": Row(
        sweep(
            SEARCH
            + f"tune:\n  strategy: one_at_a_time\n  baseline: {BASELINE}\n"
            + "  exclude: [{neck: Flatten, head: StackedLinearClsHead}]\n"
        ),
        "sweep.yaml: tune.exclude.0",
        ["neck=Flatten, head=StackedLinearClsHead matches none of the 3 planned cells"],
    ),
    # -- scaling ----------------------------------------------------------------------------------
    "unknown-scaling-key": Row(
        sweep(SEARCH + "scaling: {num_worker: 2}\n"),
        "sweep.yaml: scaling.num_worker",
        ["unknown argument 'num_worker' for scaling", "(did you mean 'num_workers'?)"],
    ),
    "scaling-zero-workers": Row(
        sweep(SEARCH + "scaling: {num_workers: 0}\n"),
        "sweep.yaml: scaling.num_workers",
        ["expected at least 1 worker"],
    ),
    "max-concurrent-zero": Row(
        sweep(SEARCH),
        "<command line>: --max-concurrent",
        ["expected at least 1 trial at once, got 0"],
        ("plan", "sweep.yaml", "--max-concurrent", "0"),
    ),
    # -- what only a build shows ------------------------------------------------------------------
    "metric-never-reported": Row(
        sweep(SEARCH + "tune: {metric: val/rank1}\n"),
        "sweep.yaml: tune.metric",
        [
            "metric 'val/rank1' is never reported by any combination",
            "(did you mean 'val/top1'?)",
            "reported: epoch, lr",
        ],
    ),
    "incompatible-combinations": Row(
        sweep(
            "search:\n"
            + NECKS
            + "  model.head: [{type: LinearClsHead, in_channels: 8}, {type: StackedLinearClsHead, in_channels: 8}]\n"
        ),
        "sweep.yaml: search",
        ["2 of 4 model combinations do not build"],
        listed=2,
    ),
    "optimizer-value-rejected": Row(
        sweep("search:\n  optimizer.lr: [0.1, -0.1]\n"),
        "sweep.yaml",
        ["1 problem; nothing ran"],
        listed=1,
    ),
    # -- precision, loader and GPU sharing -------------------------------------------------------
    "amp-unknown-dtype": Row(
        sweep(SEARCH + "train: {amp: {dtype: fp61}}\n"),
        "sweep.yaml: train.amp.dtype",
        ["unknown dtype 'fp61'", "(did you mean 'fp16'?)", "expected one of bf16, fp16"],
    ),
    "amp-not-a-mapping": Row(
        sweep(SEARCH + "train: {amp: bf16}\n"),
        "sweep.yaml: train.amp",
        ["expected dict[str, Any]", "for train.amp, got 'bf16'"],
    ),
    "amp-unknown-key": Row(
        sweep(SEARCH + "train: {amp: {precision: bf16}}\n"),
        "sweep.yaml: train.amp",
        ["expected {dtype: bf16 | fp16}, got {'precision': 'bf16'}"],
    ),
    "amp-fp16-on-cpu": Row(
        sweep(SEARCH + "train: {amp: {dtype: fp16}}\n"),
        "sweep.yaml: train.amp.dtype",
        ["fp16 needs a GPU but the trials run on CPU", "use dtype: bf16 on CPU"],
    ),
    "compile-not-a-bool": Row(
        sweep(SEARCH + "train: {compile: maybe}\n"), "sweep.yaml: train.compile", ["expected bool"]
    ),
    "gpus-per-trial-too-big": Row(
        sweep(SEARCH + "scaling: {gpus_per_trial: 1.5}\n"),
        "sweep.yaml: scaling.gpus_per_trial",
        ["expected a GPU share in (0, 1], e.g. 0.25, got 1.5"],
    ),
    "gpus-per-trial-many-workers": Row(
        sweep(SEARCH + "scaling: {num_workers: 2, gpus_per_trial: 0.5}\n"),
        "sweep.yaml: scaling.gpus_per_trial",
        ["packs one-worker trials, but num_workers is 2", "resources_per_worker"],
    ),
    "gpus-per-trial-twice": Row(
        sweep(SEARCH + "scaling: {gpus_per_trial: 0.25, resources_per_worker: {GPU: 0.5}}\n"),
        "sweep.yaml: scaling.gpus_per_trial",
        ["gpus_per_trial is 0.25 but resources_per_worker.GPU is 0.5; keep one"],
    ),
    # -- never fits: `run` refuses before Ray or the tracking store start -------------------------------
    "run-never-fits-cpu": Row(
        sweep(SEARCH + "scaling: {num_workers: 64}\n"),
        "sweep.yaml: scaling.num_workers",
        ["a trial needs 64 workers x 1 CPU = 64 CPU", "it can never start"],
        ("run", "sweep.yaml"),
    ),
    "run-never-fits-gpu": Row(
        sweep(SEARCH + "scaling: {use_gpu: true}\n"),
        "sweep.yaml: scaling.use_gpu",
        ["1 GPU but the cluster has 0", "set scaling.use_gpu: false"],
        ("run", "sweep.yaml"),
    ),
    "run-never-fits-packed-gpu": Row(
        sweep(SEARCH + "scaling: {gpus_per_trial: 0.25}\n"),
        "sweep.yaml: scaling.gpus_per_trial",
        ["0.25 GPU but the cluster has 0"],
        ("run", "sweep.yaml"),
    ),
}


@pytest.fixture
def no_ray() -> Iterator[None]:
    """No row may start Ray; if one does, shut it down and fail."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
        pytest.fail("a bad-input row started Ray")


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


@pytest.mark.parametrize("row", [pytest.param(r, id=k) for k, r in ROWS.items()])
def test_bad_sweep(
    row: Row, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_ray: None
) -> None:
    if "gpu" in row.files["sweep.yaml"] and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    _write(tmp_path, row.files)

    code = main(list(row.argv))
    out, err = capsys.readouterr()

    assert code == EXIT_USER_ERROR, f"exit {code}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == row.listed + 1, f"expected {row.listed + 1} stderr lines, got:\n{err}"
    assert all(ln.startswith("error: [") for ln in lines[:-1]), err
    line = lines[-1]
    assert line.startswith(f"error: {row.where}: "), (
        f"expected 'error: {row.where}: ...', got:\n{line}"
    )
    for text in row.expected:
        assert text in line, f"{text!r} not in:\n{line}"
    assert not (tmp_path / "mlflow.db").exists(), "nothing may start on bad input"


@pytest.mark.parametrize(
    ("scaling", "reason"),
    [
        ("{num_workers: 64}", "a trial needs 64 workers x 1 CPU = 64 CPU"),
        ("{use_gpu: true}", "1 GPU but the cluster has 0"),
    ],
)
def test_plan_reports_a_sweep_that_does_not_fit_here_without_failing(
    scaling: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_ray: None
) -> None:
    """``plan`` may be run on a laptop for a cluster: not fitting here is a note, exit 0."""
    if "gpu" in scaling and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    _write(tmp_path, sweep(SEARCH + f"scaling: {scaling}\n"))
    code = main(["plan", "sweep.yaml"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    assert "does not fit on this machine" in out and reason in out
    assert "give --address to check a cluster" in out
