"""The report's statistics against synthetic sweeps whose truth is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic import synthetic_sweep, true_means

from ablate.errors import AblateError
from ablate.report import stats
from ablate.report.analysis import analyze, error_line
from ablate.report.frame import Dim, SweepMeta, prepare

REPS = 200
NOISE = 0.01


def _cells(prep):
    return analyze(prep).cells


def test_cell_and_marginal_cis_cover_the_truth_at_the_nominal_rate():
    effects = {"neck": {"avg": 0.0, "gem": 0.02}, "head": {"lin": 0.0, "bn": 0.01}}
    truth = true_means(effects, 0.7)
    marg_truth = {
        "neck": {n: np.mean([truth[(n, h)] for h in effects["head"]]) for n in effects["neck"]},
        "head": {h: np.mean([truth[(n, h)] for n in effects["neck"]]) for h in effects["head"]},
    }
    cell_hits, marg_hits = [], []
    for rep in range(REPS):
        trials, _, meta = synthetic_sweep(effects, n_seeds=5, noise=NOISE, epochs=0, seed=rep)
        prep = prepare(trials, None, meta)
        a = analyze(prep)  # ranks the cells with stats.cell_table
        for key, lo, hi in zip(
            zip(a.cells["neck"], a.cells["head"]), a.cells["ci_low"], a.cells["ci_high"]
        ):
            cell_hits.append(lo <= truth[key] <= hi)
        for d in prep.dims:
            me = stats.marginal_effects(
                prep.done, a.cells, d, prep.dims, "val/top1", "max", "factorial", None, a.model
            )
            for _, r in me.iterrows():
                marg_hits.append(r["ci_low"] <= marg_truth[d.name][r["level"]] <= r["ci_high"])
    assert len(cell_hits) == 4 * REPS
    assert 0.90 <= np.mean(cell_hits) <= 0.99
    assert 0.90 <= np.mean(marg_hits) <= 0.99


def test_verdicts_flag_large_effects_and_keep_zero_effects_within_noise():
    effects = {"neck": {"A": 0.0, "B": 0.05, "C": -0.05, "D": 0.0}, "head": {"x": 0.0, "y": 0.0}}
    null = {("A", "y"), ("D", "x"), ("D", "y")}
    flags: dict[tuple, list[str]] = {}
    null_p, any_false = [], []
    for rep in range(REPS):
        trials, _, meta = synthetic_sweep(effects, n_seeds=5, noise=NOISE, epochs=0, seed=rep)
        prep = prepare(trials, None, meta)
        a = analyze(prep)
        assert a.ref_why == "the baseline from the sweep config"
        cmp = stats.compare_to_reference(
            prep.done, a.cells.reset_index(), "val/top1", "max", a.reference
        )
        key = a.cells[["neck", "head"]].apply(tuple, axis=1)
        cmp["key"] = cmp["cell"].map(key)
        for k, f, p in zip(cmp["key"], cmp["flag"], cmp["p"]):
            flags.setdefault(k, []).append(f)
            if k in null:
                null_p.append(p)
        any_false.append(
            any(f != stats.NOISE for k, f in zip(cmp["key"], cmp["flag"]) if k in null)
        )
    rate = {k: pd.Series(v).value_counts(normalize=True) for k, v in flags.items()}
    assert set(flags[("A", "x")]) == {stats.REF}
    for k in [("B", "x"), ("B", "y")]:
        assert rate[k].get(stats.BETTER, 0) >= 0.90
    for k in [("C", "x"), ("C", "y")]:
        assert rate[k].get(stats.WORSE, 0) >= 0.90
    # Unadjusted p-values of the null cells are calibrated; Holm keeps the family-wise rate.
    assert 0.02 <= np.mean(np.array(null_p) < 0.05) <= 0.09
    assert np.mean(any_false) <= 0.08
    for k in null:
        assert rate[k].get(stats.NOISE, 0) >= 0.92


def _two_cells(x: dict[int, float], y: dict[int, float]) -> pd.DataFrame:
    rows = [{"cell": "ref", "seed": s, "m": v} for s, v in x.items()]
    rows += [{"cell": "new", "seed": s, "m": v} for s, v in y.items()]
    return pd.DataFrame(rows)


def test_paired_test_when_seeds_are_shared_cancels_the_seed_effect():
    rng = np.random.default_rng(0)
    seed_effect = 0.05 * rng.standard_normal(6)
    ref = {s: 0.70 + seed_effect[s] + 0.002 * rng.standard_normal() for s in range(6)}
    new = {s: 0.71 + seed_effect[s] + 0.002 * rng.standard_normal() for s in range(6)}
    done = _two_cells(ref, new)
    ranked = pd.DataFrame({"cell": ["new", "ref"]})
    out = stats.compare_to_reference(done, ranked, "m", "max", "ref").set_index("cell")
    assert out.at["new", "test"] == "paired (6)"
    assert out.at["new", "flag"] == stats.BETTER
    assert out.at["new", "diff_low"] > 0
    # The same values without shared seeds: Welch, and the seed effect swamps the difference.
    done2 = _two_cells(ref, {s + 100: v for s, v in new.items()})
    out2 = stats.compare_to_reference(done2, ranked, "m", "max", "ref").set_index("cell")
    assert out2.at["new", "test"] == "Welch"
    assert out2.at["new", "flag"] == stats.NOISE


def test_single_seed_cells_are_not_enough_seeds_and_min_mode_flips_direction():
    done = _two_cells({0: 1.0, 1: 1.1, 2: 0.9}, {0: 0.5})
    low = pd.DataFrame([{"cell": "low", "seed": s, "m": 0.2 + 0.01 * s} for s in range(3)])
    done = pd.concat([done, low], ignore_index=True)
    ranked = pd.DataFrame({"cell": ["low", "new", "ref"]})
    out = stats.compare_to_reference(done, ranked, "m", "min", "ref").set_index("cell")
    assert out.at["new", "flag"] == stats.FEW
    assert out.at["low", "flag"] == stats.BETTER  # lower loss is better
    assert out.at["ref", "flag"] == stats.REF


def test_marginal_is_the_mean_of_cell_means_not_of_trials():
    rows = []
    for s in range(10):  # cell a1: 10 seeds at 1.0
        rows.append(("c1", s, "a", "x", 1.0 + 0.01 * (s % 2)))
    for s in range(2):  # cell a2: 2 seeds at 0.0
        rows.append(("c2", s, "a", "y", 0.0 + 0.01 * s))
    for s in range(3):
        rows.append(("c3", s, "b", "x", 0.5 + 0.01 * s))
        rows.append(("c4", s, "b", "y", 0.5 + 0.01 * s))
    trials = pd.DataFrame(rows, columns=["cell", "seed", "param.d", "param.e", "m"])
    trials = trials.assign(
        trial_id=[f"t{i}" for i in range(len(trials))],
        status="FINISHED",
        error=None,
        duration_s=1.0,
    )
    meta = SweepMeta(name="x", metric="m", dimensions=["d", "e"])
    prep = prepare(trials, None, meta)
    me = stats.marginal_effects(
        prep.done, _cells(prep), Dim("d", True), prep.dims, "m", "max", "factorial", None
    ).set_index("level")
    assert me.at["a", "mean"] == pytest.approx((1.005 + 0.005) / 2)  # not 10:2 weighted
    assert me.at["a", "ci_from"].startswith("seed noise")


def test_one_at_a_time_compares_each_dimension_only_against_the_baseline():
    rows = [  # baseline (avg, lin); vary neck (and gem's p); vary head
        ("base", "avg", np.nan, "lin", 0.70),
        ("n1", "gem", 3.0, "lin", 0.75),
        ("n2", "gem", 5.0, "lin", 0.73),
        ("h1", "avg", np.nan, "bn", 0.60),
    ]
    recs = [
        dict(
            cell=c, seed=s, **{"param.neck": n, "param.neck.p": p, "param.head": h}, m=v + 0.001 * s
        )
        for c, n, p, h, v in rows
        for s in range(3)
    ]
    trials = pd.DataFrame(recs).assign(status="FINISHED", error=None, duration_s=1.0)
    trials["trial_id"] = [f"t{i}" for i in range(len(trials))]
    meta = SweepMeta(
        name="oat", metric="m", strategy="one_at_a_time", baseline={"neck": "avg", "head": "lin"},
        dimensions=["neck", "neck.p", "head"],
    )  # fmt: skip
    prep = prepare(trials, None, meta)
    a = analyze(prep)

    def marginal(i):
        return stats.marginal_effects(
            prep.done, a.cells, prep.dims[i], prep.dims, "m", "max", "one_at_a_time", a.reference
        ).set_index("level")

    neck, p = marginal(0), marginal(1)
    # neck=avg is the baseline cell alone, not averaged with the head variation (0.60).
    assert neck.at["avg", "mean"] == pytest.approx(0.701)
    assert neck.at["gem", "diff"] == pytest.approx(0.04)  # gem over its p variations
    # neck.p is compared under gem, where it exists, though the baseline neck is avg.
    assert list(p.index) == ["3", "5"]
    assert p.at["5", "diff"] == pytest.approx(-0.02)


def test_duplicates_keep_the_latest_finished_row():
    trials, _, meta = synthetic_sweep({"neck": {"a": 0.0, "b": 0.1}}, n_seeds=3, epochs=0)
    first = trials.iloc[0]
    rerun = first.copy()
    rerun["trial_id"], rerun["val/top1"] = "rerun-ok", 0.123
    failed = first.copy()
    failed["trial_id"], failed["status"], failed["val/top1"] = "rerun-failed", "FAILED", np.nan
    t = pd.concat([trials, rerun.to_frame().T, failed.to_frame().T], ignore_index=True)
    t["seed"] = t["seed"].astype(int)
    prep = prepare(t, None, meta)
    assert len(prep.done) == len(trials)
    assert not prep.done.duplicated(["cell", "seed"]).any()
    assert "rerun-ok" in set(prep.done["trial_id"])
    assert first["trial_id"] not in set(prep.done["trial_id"])
    assert prep.n_superseded == 1
    notes = prep.trials.set_index("trial_id")["note"]
    assert notes[first["trial_id"]] == "duplicate (cell, seed): superseded by rerun-ok"
    assert notes["rerun-failed"] == "re-run rerun-ok finished"
    # With end times the order is by time, not by row.
    t["end_time"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(len(t)), unit="s")
    t.loc[t["trial_id"] == first["trial_id"], "end_time"] = pd.Timestamp("2027-01-01")
    assert first["trial_id"] in set(prepare(t, None, meta).done["trial_id"])


def test_baseline_falls_back_to_the_best_cell():
    trials, _, meta = synthetic_sweep({"neck": {"a": 0.0, "b": 0.1}}, n_seeds=3, epochs=0)
    meta.baseline = {"neck": "zzz"}
    a = analyze(prepare(trials, None, meta))
    assert a.reference == a.cells.index[0]
    assert a.ref_why.startswith("no finished cell matches the baseline")
    meta.baseline = None
    assert analyze(prepare(trials, None, meta)).ref_why.startswith("no baseline was given")


def test_importance_ranks_the_dimension_with_the_effect_first():
    from ablate.report.importance import param_importance

    effects = {"neck": {"a": 0.0, "b": 0.1, "c": 0.05}, "head": {"x": 0.0, "y": 0.0}}
    trials, _, meta = synthetic_sweep(effects, n_seeds=4, epochs=0)
    prep = prepare(trials, None, meta)
    a = analyze(prep)
    table, notes = param_importance(prep.done, a.cells, prep.dims, "val/top1", "max")
    assert table is not None
    assert table.iloc[0]["dimension"] == "neck"
    assert table.set_index("dimension").at["neck", "fanova"] > 0.8
    few, notes = param_importance(prep.done.head(3), a.cells, prep.dims, "val/top1", "max")
    assert few is None and "at least" in notes[0]


def test_error_line_prefers_the_exception_line_of_a_traceback():
    tb = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad lr\n'
    assert error_line(tb) == "ValueError: bad lr"
    assert error_line("worker died\nmore") == "worker died"
    assert error_line(None) == "" and error_line(np.nan) == ""


def test_contract_errors_name_the_problem():
    trials, _, meta = synthetic_sweep({"neck": {"a": 0.0}}, n_seeds=2, epochs=0)
    with pytest.raises(AblateError, match=r"no column 'val/top5'.*did you mean 'val/top1'"):
        prepare(trials, None, {**meta.__dict__, "metric": "val/top5"})
    with pytest.raises(AblateError, match=r"meta.strategy.*expected the name"):
        SweepMeta(name="x", metric="m", strategy=" ")
    # A plugin's strategy, never imported here, is a strategy all the same.
    assert SweepMeta(name="x", metric="m", strategy="corners").strategy == "corners"
    with pytest.raises(AblateError, match="mode must be one of"):
        SweepMeta(name="x", metric="m", mode="maximize")
    with pytest.raises(AblateError, match="no column 'duration_s'"):
        prepare(trials.drop(columns="duration_s"), None, meta)
    with pytest.raises(AblateError, match="unknown field 'metrc'"):
        prepare(trials, None, {"name": "x", "metrc": "m"})
