"""Round-by-round sweeps as pure logic: seed-group ASHA's bookkeeping, the ablation path's
flips and race, and adaptive seeds' next round (no Ray, no MLflow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ablate.app.rounds import adaptive_next, strategy_next
from ablate.config import load_config
from ablate.plan import make_plan
from ablate.search.schedulers.seed_groups import (
    CONTINUE,
    PAUSE,
    STOP,
    GroupRungs,
    group_stat,
    rungs_of,
)
from ablate.search.strategies.ablation_path import flips

SPACES = Path(__file__).resolve().parents[1] / "search_spaces"


# --- seed-group ASHA -----------------------------------------------------------------------------


def test_rungs_follow_ashas_geometry() -> None:
    assert rungs_of(1, 2, 8) == [1, 2, 4]
    assert rungs_of(2, 3, 20) == [2, 6, 18]


def test_a_group_is_judged_on_all_its_seeds_and_stopped_together() -> None:
    r = GroupRungs([1], 2, {"good": 3, "bad": 3, "lucky": 3}, "mean")
    for i, v in enumerate((0.8, 0.82, 0.81)):
        assert r.on_result(f"g{i}", "good", 1, v) == CONTINUE
    # one lucky seed of a weak cell: it goes on until its group is complete...
    assert r.on_result("l0", "lucky", 1, 0.95) == CONTINUE
    assert r.on_result("l1", "lucky", 1, 0.5) == CONTINUE
    # ...then the group's mean (0.65) is below the cutoff, so the whole group stops
    assert r.on_result("l2", "lucky", 1, 0.5) == STOP
    assert r.on_result("l0", "lucky", 2, 0.96) == STOP  # the lucky seed too, at its next epoch
    assert r.on_result("g0", "good", 2, 0.85) == CONTINUE


def test_a_seed_that_finishes_first_promotes_its_group_so_no_cell_is_split() -> None:
    r = GroupRungs([1, 2], 2, {"good": 2, "slow": 2}, "mean")
    assert r.on_result("g0", "good", 1, 0.9) == CONTINUE
    assert r.on_result("g1", "good", 1, 0.9) == CONTINUE
    # one seed of a weak cell runs to the end before its twin starts...
    for t in (1, 2, 3):
        assert r.on_result("s0", "slow", t, 0.1) == CONTINUE
    r.finished("slow")
    # ...so its twin is not stopped at the rungs: the cell ends with both seeds trained
    assert r.on_result("s1", "slow", 1, 0.1) == CONTINUE
    assert r.on_result("s1", "slow", 2, 0.1) == CONTINUE
    # a group already stopped stays stopped, at every later result of its seeds
    r2 = GroupRungs([1], 2, {"good": 1, "bad": 1}, "mean")
    r2.on_result("g0", "good", 1, 0.9)
    assert r2.on_result("b0", "bad", 1, 0.1) == STOP
    r2.finished("bad")
    assert r2.on_result("b0", "bad", 2, 0.1) == STOP


def test_lower_confidence_bound_penalises_a_spread_group() -> None:
    tight, spread = [0.80, 0.80, 0.80], [0.70, 0.95, 0.78]
    assert group_stat(spread, "mean") > group_stat(tight, "mean")
    assert group_stat(spread, "lcb") < group_stat(tight, "lcb")
    r = GroupRungs([1], 2, {"tight": 3, "spread": 3}, "lcb")
    for i, v in enumerate(tight):
        r.on_result(f"t{i}", "tight", 1, v)
    assert [r.on_result(f"s{i}", "spread", 1, v) for i, v in enumerate(spread)][-1] == STOP


def test_waiting_pauses_until_a_verdict_is_certain() -> None:
    # 12 cells, rf 3: 4 go on from epoch 1, 2 from epoch 3 (ceil(n / rf), as in SHA).
    r = GroupRungs([1, 3], 3, {f"c{i}": 1 for i in range(12)}, "mean", wait=True)
    assert r.quota == {1: 4, 3: 2}
    # arrivals get better and better: each waits; the first is stopped once 4 beat it
    acts = [r.on_result(f"t{i}", f"c{i}", 1, float(i)) for i in range(5)]
    assert acts == [PAUSE] * 5
    assert r.take_news() == [("c0", STOP)]
    for i in range(5, 12):
        r.on_result(f"t{i}", f"c{i}", 1, float(i))
    on = {g for (rung, g), v in r.decided.items() if rung == 1 and v == CONTINUE}
    assert on == {"c8", "c9", "c10", "c11"}
    assert r.action("c11", 1) == CONTINUE and r.action("c0", 1) == STOP


def test_waiting_promotes_early_what_nobody_can_push_out() -> None:
    r = GroupRungs([1, 3], 3, {f"c{i}": 1 for i in range(12)}, "mean", wait=True)
    # arrivals get worse: the 5th and later stop at once; the first is certain to go on
    # once only 3 more may come
    acts = [r.on_result(f"t{i}", f"c{i}", 1, float(-i)) for i in range(9)]
    assert acts == [PAUSE] * 4 + [STOP] * 5
    assert ("c0", CONTINUE) in r.take_news()
    assert r.action("c0", 1) == CONTINUE and r.action("c1", 1) == PAUSE
    for i in range(9, 12):
        r.on_result(f"t{i}", f"c{i}", 1, float(-i))
    assert all(r.action(f"c{i}", 1) == CONTINUE for i in range(4))
    # at epoch 3, 4 groups come: 2 go on. The first arrival waits, the best of all...
    assert r.on_result("t1", "c1", 3, 5.0) == PAUSE
    assert r.on_result("t0", "c0", 3, 9.0) == PAUSE
    assert r.on_result("t2", "c2", 3, 1.0) == STOP  # 2 above it already
    # ...and with one group left to come, c0 is above at least 2 of 4: certain
    assert r.action("c0", 3) == CONTINUE and r.action("c1", 3) == PAUSE
    assert r.on_result("t3", "c3", 3, 7.0) == CONTINUE
    assert r.action("c1", 3) == STOP


def test_waiting_judges_a_cell_on_all_its_seeds_and_on_what_is_left_of_them() -> None:
    r = GroupRungs([1], 2, {"good": 2, "bad": 2}, "mean", wait=True)
    assert r.on_result("g0", "good", 1, 0.9) == PAUSE  # waits for its twin
    assert r.on_result("b0", "bad", 1, 0.99) == PAUSE  # a lucky seed of the weak cell
    assert r.on_result("g1", "good", 1, 0.9) == PAUSE  # bad may still beat it
    assert r.on_result("b1", "bad", 1, 0.1) == STOP  # mean 0.545 < 0.9
    assert r.take_news() == [("bad", STOP), ("good", CONTINUE)]
    assert r.action("good", 1) == CONTINUE and r.action("bad", 2) == STOP
    # a seed that fails: its group is judged on the seeds it has left
    r2 = GroupRungs([1], 2, {"a": 2, "b": 1}, "mean", wait=True)
    assert r2.on_result("a0", "a", 1, 0.5) == PAUSE
    assert r2.on_result("b0", "b", 1, 0.4) == PAUSE
    r2.seed_lost("a1", "a")
    assert r2.action("a", 1) == CONTINUE and r2.action("b", 1) == STOP


@pytest.mark.parametrize("seed", range(40))
def test_waiting_reaches_synchronous_halvings_verdicts_in_any_order(seed: int) -> None:
    """Whatever order the groups arrive in, the groups that go on from each rung are
    exactly synchronous successive halving's: the top ceil(n / rf) of those that got there."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 20))
    sizes = {f"c{i}": int(rng.integers(1, 4)) for i in range(n)}
    quality = {g: float(rng.normal()) for g in sizes}
    r = GroupRungs([1, 3, 9], 3, sizes, "mean", wait=True)
    # every seed's value at each rung: its cell's quality plus noise
    value = {(g, s, t): quality[g] + 0.3 * float(rng.normal()) for g in sizes
             for s in range(sizes[g]) for t in (1, 3, 9)}  # fmt: skip
    seeds = [(g, s) for g in sizes for s in range(sizes[g])]
    at = {gs: 1 for gs in seeds}
    live = list(seeds)
    for _ in range(10_000):
        ready = [gs for gs in live if r.action(gs[0], at[gs] - 1) != PAUSE]
        if not ready:
            break
        g, s = ready[int(rng.integers(len(ready)))]
        act = r.on_result(f"{g}/{s}", g, at[(g, s)], value[(g, s, at[(g, s)])])
        if act == STOP or at[(g, s)] == 9:
            live.remove((g, s))
        elif act == CONTINUE:
            at[(g, s)] = {1: 3, 3: 9}[at[(g, s)]]
    assert not live or all(at[gs] == 9 for gs in live)
    reached = set(sizes)
    for rung in (1, 3, 9):
        means = {g: float(np.mean([value[(g, s, rung)] for s in range(sizes[g])])) for g in reached}
        top = sorted(means, key=lambda g: (-means[g], g))[: r.quota[rung]]
        on = {g for g in reached if r.decided.get((rung, g)) == CONTINUE}
        assert on == set(top), (rung, on, top)
        assert all(r.decided.get((rung, g)) == STOP for g in reached - on)
        reached = on


def test_a_restored_sweep_rebuilds_its_verdicts_from_the_trials_that_ended() -> None:
    # 6 cells, rf 3: 2 go on from epoch 1, 1 from epoch 3. Before a Ctrl-C, c0 trained to
    # the end and c1 was stopped at epoch 1; Tune restores them ended, and keeps no state.
    r = GroupRungs([1, 3], 3, {f"c{i}": 1 for i in range(6)}, "mean", wait=True)
    r.restored("t0", "c0", 9, 9, failed=False)
    r.restored("t1", "c1", 1, 9, failed=False)
    assert r.action("c0", 9) == CONTINUE and r.action("c1", 1) == STOP
    # the others train again; c0 holds one of the 2 places at epoch 1, rank unknown
    assert r.on_result("t2", "c2", 1, 5.0) == PAUSE
    assert r.on_result("t3", "c3", 1, 4.0) == STOP
    assert r.on_result("t4", "c4", 1, 6.0) == PAUSE
    assert r.on_result("t5", "c5", 1, 1.0) == STOP
    assert r.action("c4", 1) == CONTINUE and r.action("c2", 1) == STOP
    # and c0 took the one place at epoch 3 before the Ctrl-C
    assert r.on_result("t4", "c4", 3, 7.0) == STOP
    # a failed one is a lost seed: its twin is judged alone
    r2 = GroupRungs([1], 2, {"a": 2, "b": 1}, "mean", wait=True)
    r2.restored("a1", "a", 0, 3, failed=True)
    assert r2.on_result("a0", "a", 1, 0.9) == PAUSE
    assert r2.on_result("b0", "b", 1, 0.1) == STOP
    assert r2.action("a", 1) == CONTINUE


def test_force_judges_a_stalled_rung_with_what_arrived() -> None:
    r = GroupRungs([1], 3, {f"c{i}": 1 for i in range(6)}, "mean", wait=True)
    for i in range(3):
        assert r.on_result(f"t{i}", f"c{i}", 1, float(i)) == PAUSE
    assert r.force()
    assert r.action("c2", 1) == CONTINUE and r.action("c1", 1) == CONTINUE
    assert r.action("c0", 1) == STOP
    assert not r.force()


def test_without_every_group_up_front_the_rule_is_asynchronous() -> None:
    r = GroupRungs([1], 2, {}, "mean", wait=True)
    assert not r.wait
    assert r.on_result("t0", "a", 1, 0.5) == CONTINUE


# --- the ablation path ---------------------------------------------------------------------------


def _path_plan():
    return make_plan(load_config(str(SPACES / "ablation_path.yaml")))


def test_a_component_flips_with_its_own_dimensions() -> None:
    plan = _path_plan()
    assert plan.planning is not None and plan.planning.target is not None
    fl = {f.label: dict(f.values) for f in flips(plan.space, plan.baseline, plan.planning.target)}
    assert set(fl) == {"neck", "head", "optimizer.lr"}
    assert fl["head"] == {"head": "StackedLinearClsHead", "head.mid_channels": [128]}


def _fake(plan, gains: dict[str, float], rng: np.random.Generator):
    """Results of every point the path asks for: the sum of the flips' gains plus noise."""
    results: dict[str, pd.Series] = {}
    target = plan.planning.target
    asked = 0
    while True:
        trials, _ = strategy_next(plan, results)
        if not trials:
            return results, asked
        asked += len(trials)
        for t in trials:
            value = sum(g for k, g in gains.items() if t.point.get(k) == target[k])
            s = results.setdefault(t.cell, pd.Series(dtype=float))
            results[t.cell] = pd.concat([s, pd.Series([value + rng.normal(0, 0.3)], [t.seed])])


def test_the_path_takes_the_biggest_gain_first_and_races_losers_out() -> None:
    plan = _path_plan()
    results, asked = _fake(plan, {"neck": 0.0, "head": 10.0, "optimizer.lr": 3.0},
                           np.random.default_rng(0))  # fmt: skip
    state = plan.strategy.state(plan.planning, results)  # type: ignore[attr-defined]
    assert state.done
    assert [s.flip for s in state.steps] == ["baseline", "head", "optimizer.lr", "neck"]
    # step 1 raced three flips: the two losers stopped after 2 seeds, not all 4
    assert state.steps[1].raced["neck"] == 2 and state.steps[1].raced["optimizer.lr"] == 2
    full = 4 * (1 + 3 + 2 + 1)
    assert asked < full


def _best_plan(tmp_path: Path):
    """The shipped path sweep without its target: the path screens for the best itself."""
    text = (SPACES / "ablation_path.yaml").read_text(encoding="utf-8")
    text = text.replace("_base_: ../configs/", f"_base_: {SPACES.parent / 'configs'}/")
    lines = [ln for ln in text.splitlines() if not ln.startswith("  target:")]
    (tmp_path / "best.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return make_plan(load_config(str(tmp_path / "best.yaml")))


#: Each dimension's better value, and what it adds to the metric.
GOOD = {"neck": ("GeneralizedMeanPooling", 1.0), "head": ("StackedLinearClsHead", 10.0),
        "optimizer.lr": (0.1, 3.0)}  # fmt: skip


def _run_path(plan, rng: np.random.Generator, results=None, stop_after: int | None = None):
    """Answer the path's rounds with GOOD's gains plus seed noise; every (cell, seed) asked."""
    results = dict(results or {})
    asked: list[tuple[str, int]] = []
    rounds = 0
    while stop_after is None or rounds < stop_after:
        trials, _ = strategy_next(plan, results)
        if not trials:
            break
        rounds += 1
        for t in trials:
            asked.append((t.cell, t.seed))
            value = sum(g for k, (v, g) in GOOD.items() if t.point.get(k) == v) + rng.normal(0, 0.3)
            s = results.get(t.cell, pd.Series(dtype=float))
            results[t.cell] = pd.concat([s, pd.Series([value], [t.seed])])
    return results, asked


def test_without_a_target_the_first_round_screens_every_cell(tmp_path: Path) -> None:
    plan = _best_plan(tmp_path)
    assert plan.planning.target is None
    screen = plan.strategy.build_points(plan.space, plan.tune, [plan.baseline])
    assert len(screen) == 12  # 2 necks x (1 + 2 head widths) x 2 lrs
    # the first round (what `ablate plan` lists): the baseline on 4 seeds, the rest on 2
    seeds = {}
    for t in plan.trials:
        seeds.setdefault(t.cell, []).append(t.seed)
    assert len(seeds) == 12 and seeds[plan.cells[0]] == [0, 1, 2, 3]
    assert all(v == [0, 1] for c, v in seeds.items() if c != plan.cells[0])
    line = plan.strategy.describe(plan.planning, len(plan.cells))
    assert "screening: 12 cells x 2 seeds [0, 1] (the baseline x 4) = 26" in line
    assert "at most 38 trials" in line  # 26 + min(11, 3*4/2) * (4 - 2)


def test_the_best_of_the_screening_is_the_target_and_no_trial_runs_twice(
    tmp_path: Path,
) -> None:
    plan = _best_plan(tmp_path)
    results, asked = _run_path(plan, np.random.default_rng(1))
    assert len(asked) == len(set(asked))  # the path reused the screening's trials
    state = plan.strategy.state(plan.planning, results)  # type: ignore[attr-defined]
    assert state.done and state.target.how == "best" and state.target.screened == 12
    best = {k: v for k, (v, _) in GOOD.items()}
    assert {k: state.target.point[k] for k in best} == best
    assert state.target.seeds == (0, 1)
    assert [s.flip for s in state.steps] == ["baseline", "head", "optimizer.lr", "neck"]
    assert state.steps[-1].cell == state.target.cell
    assert 26 < len(asked) <= 38  # within the plan's bound, below a 12 x 4 factorial
    # the tags the parent run gets say where the target came from
    d = state.target.as_dict()
    assert d["how"] == "best" and d["mean"] == pytest.approx(
        results[state.target.cell][[0, 1]].mean()
    )


def test_the_target_reads_only_the_screening_seeds_so_a_resumed_path_keeps_it(
    tmp_path: Path,
) -> None:
    plan = _best_plan(tmp_path)
    results, _ = _run_path(plan, np.random.default_rng(2), stop_after=1)  # the screening
    first = plan.strategy.state(plan.planning, results).target  # type: ignore[attr-defined]
    # later seeds of another cell look far better: the target must not move
    other = next(c for c in results if c != first.cell)
    results[other] = pd.concat([results[other], pd.Series([99.0, 99.0], [2, 3])])
    again = plan.strategy.state(plan.planning, results).target  # type: ignore[attr-defined]
    assert again == first
    # a killed sweep resumed from the stored results alone plans the same next round
    a, _ = strategy_next(plan, results)
    b, _ = strategy_next(plan, {c: s.copy() for c, s in results.items()})
    assert [(t.cell, t.seed) for t in a] == [(t.cell, t.seed) for t in b]


def test_a_baseline_that_screens_best_is_a_path_of_no_steps(tmp_path: Path) -> None:
    plan = _best_plan(tmp_path)
    base = plan.cells[0]
    results = {c: pd.Series([50.0, 50.0], [0, 1]) for c in plan.cells}
    results[base] = pd.Series([60.0, 60.0, 60.0, 60.0], [0, 1, 2, 3])
    state = plan.strategy.state(plan.planning, results)  # type: ignore[attr-defined]
    assert (
        state.done and state.target.cell == base and [s.flip for s in state.steps] == ["baseline"]
    )
    assert strategy_next(plan, results) == ([], "path complete")


# --- adaptive seeds ------------------------------------------------------------------------------


def test_adaptive_rounds_add_seeds_only_to_undecided_cells() -> None:
    plan = make_plan(load_config(str(SPACES / "adaptive_seeds.yaml")))
    assert [t.seed for t in plan.trials[:3]] == [0, 1, 2] and len(plan.trials) == 12
    ref, *others = plan.cells
    rng = np.random.default_rng(0)
    means = dict(zip(plan.cells, (80.0, 40.0, 80.0, 79.0)))
    sds = dict(zip(plan.cells, (0.05, 0.05, 0.05, 3.0)))  # the last one is a close call
    results = {
        c: pd.Series(means[c] + rng.normal(0, sds[c], 3), index=[0, 1, 2]) for c in plan.cells
    }
    nxt, line = adaptive_next(plan, results)
    assert "1 of 4 looks" in line
    cells = {t.cell for t in nxt}
    assert cells == {ref, others[2]}  # 40 vs 80 and 80 vs 80 are decided at once
    assert {t.seed for t in nxt} == {0, 1, 2, 3}
    # nothing run yet: the first round, every cell
    first, _ = adaptive_next(plan, {})
    assert len(first) == 12


@pytest.mark.parametrize("name", ["adaptive_seeds", "ablation_path"])
def test_round_plans_say_so(name: str) -> None:
    plan = make_plan(load_config(str(SPACES / f"{name}.yaml")))
    assert plan.space.adaptive is not None or plan.strategy.rounds


def test_the_statistics_doc_shows_what_plan_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/statistics.md's power block is ``ablate plan``'s output, line for line."""
    import re

    from ablate.cli import main

    doc = (SPACES.parent / "docs" / "statistics.md").read_text(encoding="utf-8")
    ((args, block),) = re.findall(r"<!-- plan-power: (.+?) -->\n```\n(.*?)```", doc, flags=re.S)
    path, *over = args.split()
    assert main(["plan", str(SPACES.parent / path), *over]) == 0
    out = capsys.readouterr().out.splitlines()
    for line in block.splitlines():
        assert line in out, line
