"""What MLflow tracking costs a sweep, side by side with the trials' wall time, in one run of
the flagship sweep (2 necks x 2 heads x 3 seeds, 4 epochs) tracked in the default SQLite store.

Run: ``python bench/bench_tracking.py [key=value overrides]``. Writes
``bench/results/tracking.json``.

Two costs, measured in the Tune driver where all tracking happens:

- the callback, which Tune's event loop waits for (a trial's next report waits on that loop):
  it copies the trial's data and queues it;
- the writer thread, which makes every MLflow call (child runs, params, config artifacts,
  each epoch's metrics, run ends). Its CPU time is what the trials lose on a shared machine;
  its wall time, mostly waiting on commits, is reported too.

The fixed costs paid once per ``ablate run`` (importing MLflow and opening the store, the
parent run, the report read back from MLflow) are recorded separately.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FLAGSHIP = ROOT / "search_spaces" / "neck_vs_head.yaml"
BUDGET_PCT = 2.0


def main(overrides: list[str]) -> dict:
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    import ray

    from ablate.app.sweep import write_report
    from ablate.config import load_config
    from ablate.layout import FINISHED
    from ablate.plan import make_plan
    from ablate.run.driver import run_sweep
    from ablate.tracking import SweepTracker, open_store
    from ablate.tracking.callback import tracker_callback

    plan = make_plan(load_config(FLAGSHIP, overrides))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = open_store(f"sqlite:///{tmp}/mlflow.db")
        open_s = time.perf_counter() - t0
        tracker = SweepTracker(store, plan, command="bench_tracking")
        t0 = time.perf_counter()
        tracker.start()
        start_s = time.perf_counter() - t0
        try:
            outcome = run_sweep(
                plan,
                storage=str(Path(tmp) / "ray"),
                callbacks=[tracker_callback(tracker)],
                printer=lambda line: None,
            )
        finally:
            ray.shutdown()
        t0 = time.perf_counter()
        paths = write_report(store, plan.name, Path(tmp) / "reports")
        tracker.finish({"total": len(outcome.trials)}, paths["md"].parent)
        report_s = time.perf_counter() - t0

        epochs_reported = sum(int(t.metrics.get("epoch", 0)) for t in outcome.trials)
        children = store.client.search_runs([tracker.experiment_id], "tags.`ablate.role` = 'trial'")
        points = sum(
            len(store.client.get_metric_history(r.info.run_id, plan.tune.metric)) for r in children
        )

    trial_wall = sum(t.duration_s for t in outcome.trials)
    st, w = tracker.stats, tracker.writer
    pct_trials = 100 * (st.callback_s + w.cpu_s) / trial_wall
    result = {
        "sweep": f"{plan.name} {' '.join(overrides)}".strip(),
        "trials": len(outcome.trials),
        "trials_finished": sum(t.status == FINISHED for t in outcome.trials),
        "epochs_per_trial": plan.epochs,
        "concurrency": outcome.concurrency,
        "store": "sqlite (default)",
        "trial_wall_s_summed": round(trial_wall, 2),
        "sweep_wall_s": round(outcome.wall_s, 2),
        # Tune's loop waits only for the callback (a copy and a queue put) ...
        "callback_s": round(st.callback_s, 3),
        "callbacks": st.callbacks,
        "callback_ms_each": round(1000 * st.callback_s / max(st.callbacks, 1), 3),
        # ... while the writer thread makes the MLflow calls: its CPU is what trials lose,
        # its wall time is mostly waiting on SQLite commits.
        "writer_cpu_s": round(w.cpu_s, 3),
        "writer_busy_s": round(w.busy_s, 3),
        "writer_jobs": w.jobs,
        "mlflow_calls": store.calls,
        "mlflow_s_by_call": {k: round(v, 3) for k, v in sorted(store.by_call.items())},
        "tracking_pct_of_trial_wall": round(pct_trials, 3),
        "writer_busy_pct_of_trial_wall": round(100 * w.busy_s / trial_wall, 3),
        "budget_pct": BUDGET_PCT,
        "within_budget": pct_trials <= BUDGET_PCT,
        "results_logged": st.results,
        "epochs_tune_reported": epochs_reported,
        "metric_points_in_mlflow": points,
        "once_per_run_s": {
            "import_mlflow_and_open_store": round(open_s, 2),
            "parent_run": round(start_s, 2),
            "report_from_mlflow_and_finish": round(report_s, 2),
        },
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        # A shared machine: MLflow calls and trials both slow down under load.
        "load_avg_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    out = ROOT / "bench" / "results" / "tracking.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    r = main(sys.argv[1:])
    print(json.dumps(r, indent=2))
    print(
        f"tracking: {r['callback_s']}s in the callback + {r['writer_cpu_s']}s writer CPU over "
        f"{r['trial_wall_s_summed']}s of trials = {r['tracking_pct_of_trial_wall']}% "
        f"(budget {BUDGET_PCT}%; writer wall {r['writer_busy_pct_of_trial_wall']}%)"
    )
