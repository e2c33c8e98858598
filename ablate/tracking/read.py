"""A sweep read back from the tracking store alone (no Ray, no result files), as the tables
the report takes (:mod:`ablate.report.frame` is their contract).

Reads what :mod:`.tracker` writes: every ended child run of the sweep's experiment, from
every ``ablate run`` of it (added seeds and re-runs count; the report resolves duplicate
``(cell, seed)`` pairs), and the sweep's description from its parent runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ablate.errors import AblateError, did_you_mean
from ablate.layout import CURVE_COLUMNS, RESULT_ARTIFACT_PREFIX, TRIAL_COLUMNS
from ablate.tracking import schema as S
from ablate.tracking.store import Store, run_filter, shown


@dataclass
class SweepData:
    """What the report takes: ``trials`` and ``curves`` tables, and ``meta``, the fields
    of :class:`ablate.report.SweepMeta` as a dict."""

    trials: pd.DataFrame
    curves: pd.DataFrame
    meta: dict[str, Any]
    parents: list[str]


def sweeps(store: Store) -> list[str]:
    """Names of the sweeps (experiments ablate made) in the store."""
    names, token = [], None
    while True:
        page = store.call("search_experiments", store.client.search_experiments, page_token=token)
        names += [e.name for e in page if S.SWEEP in (e.tags or {})]
        token = page.token
        if not token:
            return sorted(names)


def _experiment(store: Store, name: str) -> str:
    exp = store.call("get_experiment_by_name", store.client.get_experiment_by_name, name)
    if exp is None or exp.lifecycle_stage == "deleted":
        known = sweeps(store)
        listed = ", ".join(known) if known else "none yet"
        raise AblateError(
            f"no sweep '{name}' in the tracking store at {shown(store.uri)}"
            f"{did_you_mean(name, known)}; sweeps there: {listed}",
            hint="pass --tracking-uri to read another store",
        )
    return str(exp.experiment_id)


def _meta(name: str, parents: list[Any]) -> dict[str, Any]:
    if not parents:
        raise AblateError(
            f"sweep '{name}' has no 'ablate run' in the tracking store",
            hint="the experiment was not made by ablate",
        )
    parents = sorted(parents, key=lambda r: r.info.start_time or 0)
    latest = parents[-1].data.tags
    dims: list[dict[str, Any]] = []
    seen: set[str] = set()
    for run in reversed(parents):  # the latest run's order first, then older extra dims
        for d in json.loads(run.data.tags.get(S.DIMENSIONS) or "[]"):
            if d["name"] not in seen:
                seen.add(d["name"])
                dims.append(d)
    baseline = json.loads(latest.get(S.BASELINE) or "null")
    return {
        "name": name,
        "metric": latest.get(S.METRIC, "val/top1"),
        "mode": latest.get(S.MODE, "max"),
        "strategy": latest.get(S.STRATEGY, "factorial"),
        "baseline": baseline or None,
        "dimensions": dims,
        "runs": [r.info.run_id for r in parents],
        "min_effect": float(latest[S.MIN_EFFECT]) if latest.get(S.MIN_EFFECT) else None,
        "adaptive": json.loads(latest.get(S.ADAPTIVE) or "null"),
        "seeds": json.loads(latest.get(S.SEEDS) or "null"),
        "path": json.loads(latest.get(S.PATH) or "null"),
        "target": json.loads(latest.get(S.TARGET) or "null"),
    }


def _row(run: Any, meta: dict[str, Any]) -> dict[str, Any]:
    tags, info = run.data.tags, run.info
    duration = tags.get(S.DURATION)
    error = tags.get(S.ERROR)
    if info.status == S.FAILED and not error:
        error = "the trial failed (no error was recorded)"
    name = tags.get(S.TRIAL_NAME) or info.run_name
    row: dict[str, Any] = {
        # Readable and unique: a re-run of the same trial is another run.
        "trial_id": f"{name}@{info.run_id[:8]}",
        "run_id": info.run_id,
        "cell": tags.get(S.CELL),
        "seed": tags.get(S.SEED),
        "status": info.status,
        "error": error,
        "duration_s": float(duration) if duration else (info.end_time - info.start_time) / 1000.0,
        "end_time": pd.Timestamp(info.end_time, unit="ms"),
        "parent_run": tags.get(S.PARENT_RUN),
        meta["metric"]: float("nan"),
    }
    row.update(run.data.metrics)
    for d in meta["dimensions"]:
        row[f"param.{d['name']}"] = run.data.params.get(d["name"])
    return row


def _artifacts(store: Store, run: Any) -> dict[str, str]:
    """A finished trial's metric artifacts (a confusion matrix) as JSON text, by result key
    (``artifact/val/confusion``): the report reads them from these trials columns."""
    listed = run.data.tags.get(S.METRIC_ARTIFACTS)
    if not listed or run.info.status != S.FINISHED:
        return {}
    out = {}
    for path in listed.split(","):
        local = store.call(
            "download a metric artifact", store.client.download_artifacts, run.info.run_id, path
        )
        key = path.removeprefix(f"{S.METRIC_ARTIFACT_DIR}/").removesuffix(".json")
        out[f"{RESULT_ARTIFACT_PREFIX}{key}"] = Path(local).read_text(encoding="utf-8")
    return out


def load_sweep(store: Store, name: str) -> SweepData:
    """Every ended trial of every ``ablate run`` of ``name``, and its per-epoch curves.

    Raises:
        AblateError: no such sweep (the message lists the sweeps there are).
    """
    exp = _experiment(store, name)
    meta = _meta(name, store.all_runs(exp, run_filter(**{S.ROLE: S.PARENT})))
    metric = meta["metric"]
    trial_runs = store.all_runs(exp, run_filter(**{S.ROLE: S.TRIAL}))
    children = [r for r in trial_runs if r.info.end_time]
    rows = [{**_row(r, meta), **_artifacts(store, r)} for r in children]
    trials = pd.DataFrame(rows, columns=None if rows else [*TRIAL_COLUMNS, metric])
    for d in meta["dimensions"]:
        if f"param.{d['name']}" not in trials:
            trials[f"param.{d['name']}"] = pd.Series(dtype=object)
    curves = []
    for r in children:
        if r.info.status != S.FINISHED:
            continue
        hist = store.call(
            "get_metric_history", store.client.get_metric_history, r.info.run_id, metric
        )
        tid = _row(r, meta)["trial_id"]
        curves += [(tid, m.step, metric, m.value) for m in hist]
    return SweepData(
        trials, pd.DataFrame(curves, columns=list(CURVE_COLUMNS)), meta, list(meta["runs"])
    )
