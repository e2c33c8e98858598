"""The verdicts' promises on simulated sweeps with known effects and seed noise: a small
version of bench/sim_verdicts.py (BENCHMARKS.md has the full one)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import sim_verdicts as sim

SWEEPS = 30


def within(rate: float, n: int, target: float = 0.05) -> bool:
    """Whether ``rate`` over ``n`` sweeps is consistent with a true rate <= ``target``: a
    one-sided binomial test at 1% (30 sweeps cannot show 5% directly; the benchmark's
    hundreds do)."""
    from scipy.stats import binomtest

    return binomtest(round(rate * n), n, target, alternative="greater").pvalue > 0.01


@pytest.fixture(scope="module")
def null() -> dict[str, float]:
    return sim.run(sim.Scenario(sim.NULL), SWEEPS, seed=1)


@pytest.fixture(scope="module")
def mixed() -> dict[str, float]:
    return sim.run(sim.Scenario(sim.MIXED, own_sd=0.25, spending="pocock"), SWEEPS, seed=2)


def test_no_false_better_or_worse_across_ten_null_arms(null: dict[str, float]) -> None:
    assert within(null["familywise_false_direction"], SWEEPS)


def test_intervals_cover_the_truth(null: dict[str, float], mixed: dict[str, float]) -> None:
    for r in (null, mixed):
        assert 0.9 <= r["ci_coverage_fixed"] <= 0.99  # fixed seeds: about 95%
        assert r["ci_coverage"] >= 0.93  # adaptive: repeated CIs, 95% or more


def test_equivalent_only_within_min_effect(mixed: dict[str, float]) -> None:
    assert mixed["false_equivalence"] == 0.0  # 4 arms of 30 sweeps at 2 or 3 times min_effect
    assert within(mixed["familywise_false_direction"], SWEEPS)


def test_adaptive_reaches_the_fixed_verdicts_with_fewer_trials(mixed: dict[str, float]) -> None:
    assert mixed["same_verdict_as_fixed"] >= 0.9
    # Pocock-type spending; O'Brien-Fleming-type needs 0.64 here (BENCHMARKS.md)
    assert mixed["trials_share"] <= 0.6


def test_futility_stopping_saves_noisy_cells_and_keeps_the_promises() -> None:
    """Seed sd δ: a null arm cannot be shown equivalent by 10 seeds, so without the futility
    stop it runs to max; with it (non-binding) it stops early, with the same verdicts."""
    noisy = sim.Scenario(sim.MIXED, own_sd=1.0)
    on = sim.run(noisy, SWEEPS, seed=3)
    off = sim.run(sim.Scenario(sim.MIXED, own_sd=1.0, futility=0.0), SWEEPS, seed=3)
    assert on["trials_share"] < off["trials_share"] - 0.15
    assert on["same_verdict_as_fixed"] >= 0.9
    assert within(on["familywise_false_direction"], SWEEPS)
    assert on["ci_coverage"] >= 0.93
