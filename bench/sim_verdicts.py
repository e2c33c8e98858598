"""Simulated sweeps with known effects and seed noise: do ablate's verdicts keep their promises?

Each simulated sweep has a reference cell and ``arms`` other cells with known true
differences. A seed adds noise shared by every cell (the same data order and init: what a
paired design removes) and noise of its own per cell. Measured, over many sweeps:

- the family-wise rate of a false ``better``/``worse`` (a verdict whose sign is wrong, or any
  on a cell with no true difference), with adaptive seeds, across 10 arms: target <= 5%;
- the coverage of the 95% CIs of the differences: target ~95%;
- ``equivalent`` only within ``min_effect``: the rate of "equivalent" on a cell whose true
  difference is at least ``min_effect``: target <= 5%;
- adaptive seeds against a fixed ``max`` seeds: the share of cells with the same verdict, and
  the trials used (target <= 60%).

Run: ``python bench/sim_verdicts.py [--sweeps N]``; writes bench/results/verdicts.json and
docs/images/sim_*.png. The unit tests (tests/report/test_verdicts_sim.py) run a smaller version.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ablate.report import verdicts as V  # noqa: E402

#: The scenario of the benchmark: half the arms have no effect, the rest small to large.
MIXED = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 3.0, -3.0)
#: Harder: arms between 0 and min_effect and just above it.
HARD = (0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.5, 2.0, 3.0, -3.0)
NULL = (0.0,) * 10


@dataclass(frozen=True)
class Scenario:
    effects: tuple[float, ...] = MIXED  # true cell - reference, in units of the seed sd
    delta: float = 1.0  # tune.min_effect
    shared_sd: float = 1.0  # seed noise every cell shares (data order, init)
    own_sd: float = 0.5  # seed noise of one cell
    low: int = 3
    high: int = 10
    step: int = 1
    mode: str = "max"
    spending: str = "obrien_fleming"
    futility: float = 0.1  # ablate's default: non-binding futility stopping


def values(s: Scenario, rng: np.random.Generator) -> dict[str, pd.Series]:
    """Every cell's metric at all ``high`` seeds: cell ``ref`` and ``a0``..``a9``."""
    seeds = np.arange(s.high)
    shared = rng.normal(0, s.shared_sd, s.high)
    out = {"ref": pd.Series(shared + rng.normal(0, s.own_sd, s.high), index=seeds)}
    for i, e in enumerate(s.effects):
        out[f"a{i}"] = pd.Series(e + shared + rng.normal(0, s.own_sd, s.high), index=seeds)
    return out


def adaptive(s: Scenario, full: dict[str, pd.Series]) -> tuple[pd.DataFrame, int]:
    """Run the rounds: seeds go only to undecided cells (and the reference). Returns the
    verdicts and the trials used."""
    looks = V.Looks(V.seed_schedule(s.low, s.high, s.step), s.spending, s.futility)
    seeds = list(range(s.high))
    have = dict.fromkeys(full, s.low)
    while True:
        got = {c: full[c].iloc[: have[c]] for c in full}
        table, _ = V.sequential_verdicts(got, "ref", s.mode, s.delta, seeds, looks)
        open_ = V.still_open(table)
        n = max(have.values())
        if not open_ or n >= s.high:
            return table, sum(have.values())
        nxt = looks.seeds[V.look_index(looks, n) + 1]
        for c in [*open_, "ref"]:
            have[c] = nxt


def fixed(s: Scenario, full: dict[str, pd.Series]) -> pd.DataFrame:
    return V.family_verdicts(full, "ref", s.mode, s.delta)


def run(s: Scenario, sweeps: int, seed: int = 0) -> dict[str, float]:
    """The rates over ``sweeps`` simulated sweeps."""
    rng = np.random.default_rng(seed)
    truth = pd.Series(s.effects, index=[f"a{i}" for i in range(len(s.effects))])
    fw_errors = covered = fixed_covered = intervals = eq_wrong = eq_far = agree = cells = 0
    trials_adaptive = trials_fixed = 0
    for _ in range(sweeps):
        full = values(s, rng)
        a, used = adaptive(s, full)
        f = fixed(s, full)
        a, f = a.set_index("cell").drop(index="ref"), f.set_index("cell").drop(index="ref")
        fw_errors += int(_false_directions(a["verdict"], truth) > 0)
        ok = a["low"].notna()
        covered += int(((a["low"] <= truth) & (truth <= a["high"]))[ok].sum())
        intervals += int(ok.sum())
        fixed_covered += int(((f["low"] <= truth) & (truth <= f["high"])).sum())
        far = truth.abs() >= s.delta
        eq_wrong += int((a["verdict"][far] == V.EQUIVALENT).sum())
        eq_far += int(far.sum())
        agree += int((a["verdict"] == f["verdict"]).sum())
        cells += len(a)
        trials_adaptive += used
        trials_fixed += s.high * len(full)
    return {
        "familywise_false_direction": fw_errors / sweeps,
        "ci_coverage": covered / max(intervals, 1),
        "ci_coverage_fixed": fixed_covered / (sweeps * len(s.effects)),
        "false_equivalence": eq_wrong / max(eq_far, 1),
        "same_verdict_as_fixed": agree / cells,
        "trials_share": trials_adaptive / trials_fixed,
    }


def hindsight_floor(s: Scenario, sweeps: int, seed: int = 0) -> float:
    """The trials share of a design that knew, per cell, the fewest seeds of the schedule
    at which a *fixed* test of the whole family already gives that cell its ``max``-seed
    verdict (the reference takes the most of them). No valid adaptive design on the same
    per-cell tests does better on "same verdicts": every look of one tests at a level at
    most the fixed test's, so it
    cannot stop a cell earlier than a fixed test at that many seeds would decide it. It
    peeks at the answer; it is a bound on the target, not a procedure."""
    rng = np.random.default_rng(seed)
    schedule = V.seed_schedule(s.low, s.high, s.step)
    used = total = 0
    for _ in range(sweeps):
        full = values(s, rng)
        final = fixed(s, full).set_index("cell")["verdict"]
        first: dict[str, int] = {}
        for n in schedule:
            at = V.family_verdicts({c: x.iloc[:n] for c, x in full.items()}, "ref", s.mode,
                                   s.delta).set_index("cell")["verdict"]  # fmt: skip
            for cell in final.index.drop("ref"):
                if cell not in first and at[cell] == final[cell]:
                    first[cell] = n
        need = [first.get(c, s.high) for c in final.index.drop("ref")]
        used += sum(need) + max(need)
        total += s.high * len(full)
    return used / total


def _false_directions(verdicts: pd.Series, truth: pd.Series) -> int:
    """Cells called better/worse with no true difference or the wrong sign."""
    better, worse = verdicts == V.BETTER, verdicts == V.WORSE
    return int((better & (truth <= 0)).sum() + (worse & (truth >= 0)).sum())


def verdict_shares(s: Scenario, sweeps: int, seed: int = 0) -> pd.DataFrame:
    """Per arm, how often each verdict came out, adaptive and fixed (for the figure)."""
    rng = np.random.default_rng(seed)
    counts = []
    for _ in range(sweeps):
        full = values(s, rng)
        a, _ = adaptive(s, full)
        f = fixed(s, full)
        for design, t in (("adaptive", a), ("fixed", f)):
            for cell, v in zip(t["cell"], t["verdict"]):
                if cell != "ref":
                    counts.append((design, cell, v))
    df = pd.DataFrame(counts, columns=["design", "cell", "verdict"])
    return (
        df.groupby(["design", "cell"])["verdict"].value_counts(normalize=True).unstack(fill_value=0)
    )


def figure(s: Scenario, shares: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {V.BETTER: "#2a9d8f", V.WORSE: "#e76f51", V.EQUIVALENT: "#8ab17d",
               V.UNDECIDED: "#bbbbbb"}  # fmt: skip
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, design in zip(axes, ("fixed", "adaptive")):
        t = shares.loc[design].reindex(columns=list(V.VERDICTS), fill_value=0)
        t = t.loc[[f"a{i}" for i in range(len(s.effects))]]
        bottom = np.zeros(len(t))
        labels = [f"{e:+g}" for e in s.effects]
        for v in V.VERDICTS:
            ax.bar(labels, t[v], bottom=bottom, color=colours[v], label=v)
            bottom += t[v].to_numpy()
        ax.set_title(f"{design} seeds" + (f" ({s.high})" if design == "fixed" else
                     f" ({s.low}..{s.high})"))  # fmt: skip
        ax.set_xlabel("true difference (seed sd)")
    axes[0].set_ylabel("share of simulated sweeps")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1, 1))
    fig.suptitle(f"Verdicts with min_effect = {s.delta:g}")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def grid() -> dict[str, Scenario]:
    """The scenarios of the benchmark: the null, and the mixed one over seed noise (own
    sd per cell, relative to min_effect = 1) and both spending functions, each with
    ablate's default futility stop (0.1) and without it (futility 0)."""
    out: dict[str, Scenario] = {}
    for fut in (0.1, 0.0):
        tag = "" if fut else " no-futility"
        out[f"null{tag}"] = Scenario(NULL, futility=fut)
        for own in (0.25, 0.5, 1.0):
            for spending in ("obrien_fleming", "pocock"):
                out[f"mixed sd={own:g} {spending}{tag}"] = Scenario(
                    MIXED, own_sd=own, spending=spending, futility=fut
                )
        out[f"hard sd=0.25 obrien_fleming{tag}"] = Scenario(HARD, own_sd=0.25, futility=fut)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweeps", type=int, default=200)
    args = ap.parse_args()
    t0 = time.perf_counter()
    out: dict[str, object] = {"sweeps": args.sweeps, "date": time.strftime("%Y-%m-%d")}
    for name, s in grid().items():
        out[name] = {"effects": list(s.effects), "delta": s.delta, "own_sd": s.own_sd,
                     "spending": s.spending, "futility": s.futility,
                     **run(s, args.sweeps)}  # fmt: skip
        print(name, json.dumps(out[name]), flush=True)
    floors: dict[str, float] = {}
    for s in grid().values():
        kind = "null" if s.effects == NULL else "hard" if s.effects == HARD else "mixed"
        key = f"{kind} sd={s.own_sd:g}"
        if key not in floors:
            floors[key] = round(hindsight_floor(s, args.sweeps), 3)
            print("hindsight floor", key, floors[key], flush=True)
    out["hindsight_floor"] = floors
    shares = verdict_shares(Scenario(MIXED), min(args.sweeps, 100))
    images = ROOT / "docs" / "images"
    images.mkdir(parents=True, exist_ok=True)
    figure(Scenario(MIXED), shares, images / "sim_verdicts.png")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    (ROOT / "bench" / "results" / "verdicts.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
