"""Time what a person waits for before ablate does anything: ``ablate --help``, a mistyped
argument, ``import ablate``, and which heavy packages each one imports.

Run: ``python bench/bench_startup.py [--against OLD_CHECKOUT] [--repeats 7]``. Writes
``bench/results/startup.json``. With ``--against``, the same commands run side by side on
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


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--against", help="another checkout of ablate to compare with")
    parser.add_argument("--repeats", type=int, default=7)
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
    write_result("startup.json", result)
    return result


if __name__ == "__main__":
    main()
