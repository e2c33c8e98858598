"""The performance issue's probe, side by side in one run: 8 seeds x 20 epochs of a small CNN
on 4,000 in-memory samples, three ways.

- **ablate**: ``ablate run probe.yaml`` in a fresh process, as a user types it.
- **plain Ray Tune + MLflow**: ``bench/plain_tune.py``, what a user would otherwise write (a
  function trainable, ``tune.report`` per epoch, ``MLflowLoggerCallback``), in a fresh process.
- **the limit**: the bare 1-thread PyTorch loop (``_common.bare_run``) of the same work, the
  seeds spread over 2 processes (2 cores); interpreter start and imports left out.

Also: ``ablate plan`` of a single cell; and from ablate's MLflow runs, launch -> first trial
training, the last trial's end -> exit, and the steady-state epoch against the bare loop's.
The arms alternate over ``--rounds``; medians are reported.

Run: ``python bench/bench_probe.py [--rounds 1] [--seeds 8] [--epochs 20]``. Writes
``bench/results/probe.json`` and prints the BENCHMARKS.md table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bare_run, machine, write_result

from ablate.timeline import ENV, read

PROBE = """
name: probe
model:
  type: ImageClassifier
  backbone: {{type: ConvNet, in_channels: 1, widths: [16, 32]}}
  neck: {{type: GlobalAveragePooling}}
  head: {{type: LinearClsHead, num_classes: 10, loss: {{type: CrossEntropyLoss}}}}
data:
  dataset: {{type: SyntheticImages, num_samples: 4000, num_classes: 10, image_size: 8}}
  val_dataset: {{num_samples: 1000}}
  batch_size: 64
optimizer: {{type: SGD, lr: 0.05, momentum: 0.9}}
train: {{epochs: {epochs}, num_threads: 1}}
search:
  model.neck: [{{type: GlobalAveragePooling}}]  # one cell: the probe varies seeds only
  seeds: {seeds}
"""


def _resolved(epochs: int, seed: int) -> dict[str, Any]:
    import yaml

    cfg = yaml.safe_load(textwrap.dedent(PROBE.format(epochs=epochs, seeds=[seed])))
    cfg.pop("search")
    cfg.pop("name")
    cfg["train"]["seed"] = seed
    return cfg


def _bare_seeds(epochs: int, seeds: list[int]) -> list[dict[str, Any]]:
    out = []
    for s in seeds:
        run = bare_run(_resolved(epochs, s))
        out.append({"wall_s": run.wall_s, "train_epoch_s": run.train_epoch_s[1:]})
    return out


def limit_arm(epochs: int, seeds: int) -> dict[str, Any]:
    """The bare loop, seeds split over 2 warm worker processes."""
    halves = [list(range(seeds))[0::2], list(range(seeds))[1::2]]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_bare_seeds, [1, 1], [[0], [1]]))  # warm: imports, first calls
        t0 = time.perf_counter()
        parts = list(pool.map(_bare_seeds, [epochs, epochs], halves))
        wall = time.perf_counter() - t0
    runs = [r for part in parts for r in part]
    epoch_s = [e for r in runs for e in r["train_epoch_s"]]
    return {
        "wall_s": wall,
        "trial_wall_s": statistics.median(r["wall_s"] for r in runs),
        "train_epoch_s": statistics.median(epoch_s),
    }


def _timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, end) of a fresh process; its output goes to a log file in ``cwd``."""
    with (cwd / "output.log").open("a") as log:
        t0 = time.time()
        done = subprocess.run(
            cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        end = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} exited {done.returncode}; see {cwd}")
    return end - t0, end


def ablate_arm(work: Path, epochs: int, seeds: int) -> dict[str, Any]:
    """``ablate run`` as a user types it, then its timeline from its MLflow runs."""
    from mlflow.tracking import MlflowClient

    where = Path(tempfile.mkdtemp(dir=work, prefix="ablate-"))
    (where / "probe.yaml").write_text(
        textwrap.dedent(PROBE.format(epochs=epochs, seeds=list(range(seeds))))
    )
    start = time.time()
    marks = where / "timeline.jsonl"
    wall, end = _timed(
        [sys.executable, "-m", "ablate.cli", "run", "probe.yaml"], where, {ENV: str(marks)}
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{where / 'mlflow.db'}")
    exp = client.get_experiment_by_name("probe")
    trials = client.search_runs([exp.experiment_id], "tags.`ablate.role` = 'trial'")
    epoch_s, trial_s = [], []
    for r in trials:
        hist = client.get_metric_history(r.info.run_id, "time/train_epoch_s")
        epoch_s += [m.value for m in hist if m.step > 1]
        trial_s.append(float(r.data.tags.get("ablate.duration_s", "nan")))
    last_end = max(r.info.end_time for r in trials) / 1000
    timed = read(str(marks))
    # The first trial's loop marks the moment before its first batch (ablate.train.loop).
    trains = [float(m["t"]) for m in timed if m["step"] == "training starts"]
    return {
        "wall_s": wall,
        "launch_to_first_training_s": min(trains, default=float("nan")) - start,
        "turnover_s": turnover(timed),
        "last_trial_to_exit_s": end - last_end,
        "steps_s": steps(timed, start, last_end, end),
        "train_epoch_s": statistics.median(epoch_s),
        "trial_wall_s": statistics.median(trial_s),
    }


def turnover(marks: list[dict[str, Any]]) -> float:
    """Median seconds from a trial's end to the next trial's start in the same process."""
    gaps, ended = [], {}
    for m in marks:
        if m["step"] == "trial ends":
            ended[m["pid"]] = float(m["t"])
        elif m["step"] == "trial starts" and m["pid"] in ended:
            gaps.append(float(m["t"]) - ended.pop(m["pid"]))
    return statistics.median(gaps) if gaps else float("nan")


def steps(marks: list[dict[str, Any]], start: float, last_end: float, end: float) -> dict:
    """Seconds from launch to each start-up step's first mark (``ablate.timeline``), and from
    the last trial's end to each step after it."""
    first: dict[str, float] = {}
    for m in marks:
        if m["step"] != "trial ends":  # every trial's; the turnovers are read apart
            first.setdefault(str(m["step"]), float(m["t"]))
    before = {k: round(t - start, 2) for k, t in first.items() if t <= last_end}
    after = {k: round(t - last_end, 2) for k, t in first.items() if t > last_end}
    return {
        "from launch": before,
        "from the last trial's end": {**after, "exit": round(end - last_end, 2)},
    }


def plain_arm(work: Path, epochs: int, seeds: int) -> dict[str, Any]:
    where = Path(tempfile.mkdtemp(dir=work, prefix="plain-"))
    script = Path(__file__).resolve().parent / "plain_tune.py"
    cmd = [sys.executable, str(script), "--epochs", str(epochs), "--seeds", str(seeds)]
    wall, _ = _timed(cmd, where)
    return {"wall_s": wall}


def plan_arm(work: Path) -> dict[str, Any]:
    where = Path(tempfile.mkdtemp(dir=work, prefix="plan-"))
    (where / "probe.yaml").write_text(textwrap.dedent(PROBE.format(epochs=20, seeds=[0])))
    wall, _ = _timed([sys.executable, "-m", "ablate.cli", "plan", "probe.yaml"], where)
    return {"wall_s": wall}


def _median_steps(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Each timeline step's median over the rounds that have it."""
    out: dict[str, dict[str, float]] = {}
    for part in rounds[0]:
        names = dict.fromkeys(step for r in rounds for step in r.get(part, {}))
        out[part] = {
            n: round(statistics.median(r[part][n] for r in rounds if n in r.get(part, {})), 2)
            for n in names
        }
    return out


def _median(rounds: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(r[key] for r in rounds), 3)


def table(result: dict[str, Any]) -> str:
    a, p, lim, plan = (result["median"][k] for k in ("ablate", "plain", "limit", "plan"))
    rows = [
        ("the whole probe: ablate / limit", a["wall_s"] / lim["wall_s"], "≤ 1.5"),
        ("the whole probe: ablate / plain Ray Tune + MLflow", a["wall_s"] / p["wall_s"], "≤ 0.5"),
        (
            "steady-state epoch: bare / ablate (train pass)",
            lim["train_epoch_s"] / a["train_epoch_s"],
            "≥ 0.9",
        ),
    ]
    lines = [
        "| figure | value | goal |",
        "|---|---|---|",
        f"| `ablate run` wall | {a['wall_s']:.1f} s | |",
        f"| plain Ray Tune + `MLflowLoggerCallback` wall | {p['wall_s']:.1f} s | |",
        f"| the limit (bare loop over 2 cores) | {lim['wall_s']:.1f} s | |",
        *(f"| {name} | **{v:.2f}** | {goal} |" for name, v, goal in rows),
        f"| launch → first trial training | {a['launch_to_first_training_s']:.1f} s | ≤ 5 s |",
        f"| last trial → exit | {a['last_trial_to_exit_s']:.1f} s | ≤ 1 s |",
        f"| a trial's end → the next trial in its process | {a['turnover_s']:.2f} s | |",
        f"| `ablate plan`, one cell | {plan['wall_s']:.1f} s | ≤ 3 s + the dataset build |",
    ]
    for part, marks in a.get("steps_s", {}).items():
        shown = ", ".join(f"{step} {t:.1f}" for step, t in marks.items())
        lines.append(f"\nSeconds {part} (median, `ABLATE_TIMELINE`): {shown}.")
    return "\n".join(lines)


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine(), "args": vars(args), "rounds": []}
    work = Path(tempfile.mkdtemp(prefix="ablate-probe-"))
    for r in range(args.rounds):
        arms = {
            "limit": lambda: limit_arm(args.epochs, args.seeds),
            "ablate": lambda: ablate_arm(work, args.epochs, args.seeds),
            "plain": lambda: plain_arm(work, args.epochs, args.seeds),
            "plan": lambda: plan_arm(work),
        }
        order = list(arms) if r % 2 == 0 else list(reversed(arms))
        row: dict[str, Any] = {"load_avg_1m": os.getloadavg()[0]}
        for name in order:
            row[name] = arms[name]()
            print(f"round {r} {name}: {json.dumps(row[name])}", flush=True)
        result["rounds"].append(row)
    names = ("limit", "ablate", "plain", "plan")
    result["median"] = {
        n: {
            k: _median([row[n] for row in result["rounds"]], k)
            for k in result["rounds"][0][n]
            if k != "steps_s"
        }
        for n in names
    }
    result["median"]["ablate"]["steps_s"] = _median_steps(
        [row["ablate"]["steps_s"] for row in result["rounds"]]
    )
    result["table"] = table(result)
    write_result("probe.json", result)
    _into_benchmarks(result)
    print(result["table"])
    return result


MARKERS = ("<!-- probe-table:start -->", "<!-- probe-table:end -->")


def _into_benchmarks(result: dict[str, Any]) -> None:
    """Replace the table between the markers of BENCHMARKS.md with this run's."""
    doc = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
    text = doc.read_text()
    start, end = text.index(MARKERS[0]) + len(MARKERS[0]), text.index(MARKERS[1])
    m = result["machine"]
    loads = [r["load_avg_1m"] for r in result["rounds"]]
    note = (
        f"\n{time.strftime('%Y-%m-%d')}, {m['cores']} cores ({m['cpu']}), torch {m['torch']}, "
        f"Ray {m['ray']}; {len(loads)} round(s), {result['args']['seeds']} seeds x "
        f"{result['args']['epochs']} epochs; 1-minute load average {min(loads):.1f} to "
        f"{max(loads):.1f} at the rounds' starts, {m['load_avg_at_end'][0]:.1f} at the end.\n\n"
    )
    doc.write_text(text[:start] + note + result["table"] + "\n" + text[end:])


if __name__ == "__main__":
    main()
