"""The four verdicts, power, and the group-sequential boundaries (pure logic)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ablate.report import verdicts as V


def test_power_matches_the_issue_rule_of_thumb() -> None:
    # With 3 seeds a two-sided t-test at 80% power detects ~3 seed sd; with 5, ~2.
    assert V.detectable_effect(3, 1.0) == pytest.approx(3.07, abs=0.01)
    assert V.detectable_effect(5, 0.5) == pytest.approx(2.02 * 0.5, abs=0.01)
    assert np.isnan(V.detectable_effect(1, 1.0))
    n = V.seeds_needed(2.1, 1.0)
    assert n == 5 and V.detectable_effect(n, 1.0) <= 2.1 < V.detectable_effect(n - 1, 1.0)
    assert V.seeds_needed(1.0, 1.0, alpha=0.05 / 10) > V.seeds_needed(1.0, 1.0)


def test_pooled_sd_over_cells() -> None:
    df = pd.DataFrame({"cell": list("aaabbb"), "m": [1.0, 2, 3, 10, 12, 14]})
    sd, dof = V.pooled_sd(df, "m")
    assert dof == 4 and sd == pytest.approx(np.sqrt((2 * 1 + 2 * 4) / 4))
    assert V.pooled_sd(df.iloc[[0, 3]], "m")[1] == 0


def test_one_look_is_the_plain_level() -> None:
    assert V.nominal_levels((1.0,), 0.05, 2)[0] == pytest.approx(0.05, abs=5e-4)
    assert V.nominal_levels((1.0,), 0.05, 1)[0] == pytest.approx(0.05, abs=1e-3)


@pytest.mark.parametrize("kind", V.SPENDING)
def test_boundaries_spend_alpha_by_the_spending_function(kind: str) -> None:
    looks = V.Looks(V.seed_schedule(3, 10, 1), kind)
    assert looks.seeds == (3, 4, 5, 6, 7, 8, 9, 10)
    levels = [looks.level(k, 0.05, 2) for k in range(len(looks.seeds))]
    # every look is stricter than a single test, and the sum over looks exceeds alpha only
    # because the looks are correlated
    assert all(0 <= p < 0.05 for p in levels)
    if kind == "obrien_fleming":
        assert levels == sorted(levels) and levels[0] < 1e-3 and levels[-1] > 0.03
    else:
        assert max(levels) - min(levels[1:]) < 0.01
    assert V.spent(1.0, 0.05, kind) == pytest.approx(0.05)


def test_tost_matches_statsmodels() -> None:
    from statsmodels.stats.weightstats import ttost_paired

    rng = np.random.default_rng(1)
    x, y = rng.normal(0.1, 1, 8), rng.normal(0, 1, 8)
    c = V.compare(pd.Series(x), pd.Series(y), delta=1.0)
    p, _, _ = ttost_paired(x, y, -1.0, 1.0)
    assert c.paired and c.p_equiv == pytest.approx(p, rel=1e-6)


def _cell(mean: float, sd: float, n: int, rng: np.random.Generator) -> pd.Series:
    return pd.Series(mean + rng.normal(0, sd, n), index=range(n))


def test_four_verdicts() -> None:
    rng = np.random.default_rng(0)
    by_cell = {
        "ref": _cell(0.0, 0.01, 8, rng),
        "up": _cell(0.5, 0.01, 8, rng),
        "down": _cell(-0.5, 0.01, 8, rng),
        "same": _cell(0.0, 0.01, 8, rng),
        "noisy": _cell(0.05, 1.0, 8, rng),
    }
    t = V.family_verdicts(by_cell, "ref", "max", delta=0.1, paired=False).set_index("cell")
    assert t.loc["ref", "verdict"] == V.REFERENCE
    assert t.loc["up", "verdict"] == V.BETTER
    assert t.loc["down", "verdict"] == V.WORSE
    assert t.loc["same", "verdict"] == V.EQUIVALENT
    assert t.loc["noisy", "verdict"] == V.UNDECIDED
    # mode min turns better into worse; without min_effect nothing is equivalent
    t = V.family_verdicts(by_cell, "ref", "min", delta=None, paired=False).set_index("cell")
    assert t.loc["up", "verdict"] == V.WORSE and t.loc["same", "verdict"] == V.UNDECIDED


def test_sequential_replay_stops_at_the_first_incomplete_look() -> None:
    rng = np.random.default_rng(0)
    full = {c: _cell(m, 0.1, 6, rng) for c, m in (("ref", 0), ("a", 5), ("b", 0.9))}
    looks = V.Looks((3, 4, 5, 6))
    first = {c: s.iloc[:3] for c, s in full.items()}
    t, done = V.sequential_verdicts(first, "ref", "max", 1.0, list(range(6)), looks)
    assert done == 1
    t = t.set_index("cell")
    assert t.loc["a", "verdict"] == V.BETTER  # a 5-point gain is clear at 3 seeds
    # b undecided at look 1 gets seed 3 (the reference too); a does not need it
    more = {**first, "b": full["b"].iloc[:4], "ref": full["ref"].iloc[:4]}
    t2, done2 = V.sequential_verdicts(more, "ref", "max", 1.0, list(range(6)), looks)
    assert done2 == 2 and t2.set_index("cell").loc["a", "look"] == 0
    # the replay is a pure function of the data: the same results, the same verdicts
    again, _ = V.sequential_verdicts(more, "ref", "max", 1.0, list(range(6)), looks)
    pd.testing.assert_frame_equal(t2, again)


def test_the_report_gives_the_four_verdicts_per_cell_and_per_dimension(tmp_path) -> None:
    import dataclasses

    from synthetic import synthetic_sweep

    from ablate.report import write_report

    effects = {"neck": {"avg": 0.0, "gem": 0.05}, "head": {"lin": 0.0, "bn": 0.0005}}
    trials, curves, meta = synthetic_sweep(effects, n_seeds=6, noise=0.002, epochs=0)
    meta = dataclasses.replace(meta, min_effect=0.01)
    md = write_report(trials, curves, meta, tmp_path)["md"].read_text(encoding="utf-8")
    ref = md.split("Difference from the reference cell")[1].split("\n## ")[0]
    assert "| better |" in ref and "| equivalent |" in ref
    assert "TOST" in ref and "Pairing held" in ref
    marg = md.split("Marginal effect of each dimension")[1].split("\n## ")[0]
    head = marg.split("### head")[1]
    assert "| equivalent |" in head  # 0.0005 is well within min_effect 0.01
    assert "| better |" in marg.split("### neck")[1].split("### head")[0]


def test_the_chance_of_a_verdict_is_low_only_where_none_can_come() -> None:
    lev_d, lev_e = 0.005, 0.005
    # sd 3 delta around 0: neither a difference nor equivalence within delta by 10 seeds
    hopeless = np.array([-3.0, 0.5, 3.0])
    assert V.decision_chance(hopeless, 10, 1.0, lev_d, lev_e) < 0.1
    # a clear difference, or a tight null: a verdict is all but certain
    assert V.decision_chance(np.array([3.0, 3.2, 2.9]), 10, 1.0, lev_d, lev_e) > 0.9
    assert V.decision_chance(np.array([0.05, -0.05, 0.0]), 10, 1.0, lev_d, lev_e) > 0.9
    # at max there is nothing left to predict
    assert V.decision_chance(hopeless, 3, 1.0, lev_d, lev_e) == 1.0


def test_a_futile_cell_gets_no_more_seeds_and_the_replay_says_so() -> None:
    rng = np.random.default_rng(4)
    seeds = list(range(10))
    ref = pd.Series(rng.normal(0, 0.1, 3), index=[0, 1, 2])
    by_cell = {
        "ref": ref,
        "clear": ref + 5.0,
        "noisy": ref + pd.Series([-6.0, 1.0, 6.0], index=[0, 1, 2]),
    }
    on = V.Looks(V.seed_schedule(3, 10, 1), futility=0.1)
    table, complete = V.sequential_verdicts(by_cell, "ref", "max", 0.5, seeds, on)
    row = table.set_index("cell").loc["noisy"]
    assert complete == 1 and row["verdict"] == V.UNDECIDED and bool(row["futile"])
    assert V.still_open(table) == []  # "clear" is decided, "noisy" futile: the sweep ends
    off = V.Looks(V.seed_schedule(3, 10, 1), futility=0.0)
    table, _ = V.sequential_verdicts(by_cell, "ref", "max", 0.5, seeds, off)
    assert V.still_open(table) == ["noisy"]
