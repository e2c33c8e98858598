"""Time what a person waits for before ablate does anything: ``ablate --help``, a mistyped
argument, ``import ablate``, and which heavy packages each one imports.

With ``--phases``, also where ``ablate run`` spends the time before its sweep starts: each
step of :func:`ablate.app.sweep.run_here` up to a started Ray, timed in a fresh process on
``search_spaces/neck_vs_head.yaml`` (imports, plan, dry builds, store, incremental check,
Ray's import and start).

Run: ``python bench/bench_startup.py [--against OLD_CHECKOUT] [--repeats 7] [--phases]``.
Writes ``bench/results/startup.json``. With ``--against``, the same commands run side by side on
another checkout of ablate (put first on ``PYTHONPATH``), in alternation, so load spikes hit
both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result

HEAVY = ("torch", "ray", "mlflow", "pandas", "numpy")
PROBE = """
import sys, time
t0 = time.perf_counter()
{code}
print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""
CASES = {
    "ablate --help": "from ablate.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    "ablate run (missing argument)": "from ablate.cli import main\ntry:\n    main(['run'])\nexcept SystemExit:\n    pass",
    "import ablate": "import ablate",
}


def _once(code: str, pythonpath: str | None) -> tuple[float, list[str]]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        check=False,
    )
    wall = time.perf_counter() - t0
    heavy = json.loads(done.stderr.strip().splitlines()[-1].replace("'", '"'))
    return wall, heavy


PHASES = """
import json, os, sys, tempfile, time
os.chdir(tempfile.mkdtemp())
marks, t = [], [time.perf_counter()]
def mark(what):
    now = time.perf_counter(); marks.append((what, round(now - t[0], 3))); t[0] = now
from ablate.app.options import SweepOptions
from ablate.app.sweep import load_plan
mark("import ablate.app.sweep")
opts = SweepOptions({sweep!r})
plan = load_plan(opts); mark("load_plan (config, plugins, space)")
from ablate.train.check import check_builds
check_builds(plan); mark("check_builds (torch, dataset, dry forwards)")
from ablate.plan import check_fits, local_nodes
check_fits(plan, local_nodes(), None); mark("check_fits")
from ablate.tracking import open_store
store = open_store(None); mark("open_store (mlflow, sqlite)")
from ablate.app.incremental import still_to_run
still_to_run(plan, store, opts); mark("still_to_run")
from ray import tune; mark("import ray.tune")
from ablate.run.session import connect
connect(None); mark("ray.init (local)")
print(json.dumps(marks), file=sys.stderr)
"""


def phases(repeats: int) -> dict[str, float]:
    """Median seconds of each step before ``ablate run``'s sweep starts, fresh processes."""
    code = PHASES.format(
        sweep=str(Path(__file__).resolve().parents[1] / "search_spaces" / "neck_vs_head.yaml")
    )
    runs: list[list[tuple[str, float]]] = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stderr.strip().splitlines()[-1]))
    names = [name for name, _ in runs[0]]
    return {n: round(statistics.median(r[i][1] for r in runs), 3) for i, n in enumerate(names)}


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--against", help="another checkout of ablate to compare with")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--phases", action="store_true", help="also time run's steps before Ray")
    args = parser.parse_args()
    trees = {"this tree": None}
    if args.against:
        trees[f"against {Path(args.against).name}"] = str(Path(args.against).resolve())
    result: dict[str, Any] = {"machine": machine(), "repeats": args.repeats, "cases": {}}
    for case, code in CASES.items():
        walls: dict[str, list[float]] = {t: [] for t in trees}
        heavy: dict[str, list[str]] = {}
        for _ in range(args.repeats):
            for tree, path in trees.items():  # alternate: a load spike hits both alike
                wall, imported = _once(code, path)
                walls[tree].append(wall)
                heavy[tree] = imported
        result["cases"][case] = {
            tree: {"median_s": round(statistics.median(w), 3), "imports": heavy[tree]}
            for tree, w in walls.items()
        }
        print(case, json.dumps(result["cases"][case]))
    if args.phases:
        result["run_phases_s"] = phases(max(1, args.repeats // 2))
        print("ablate run, before the sweep:", json.dumps(result["run_phases_s"], indent=1))
    write_result("startup.json", result)
    return result


if __name__ == "__main__":
    main()
