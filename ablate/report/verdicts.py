"""Decisions against the reference cell: power, four verdicts, and repeated looks.

Every comparison of a cell with the reference gets one verdict:

- ``better`` / ``worse``: the difference is not 0 (two-sided t-test);
- ``equivalent``: the difference lies within ``±min_effect`` (TOST, two one-sided t-tests,
  Schuirmann 1987), checked first: a difference smaller than the smallest one that matters
  is a finding of "no difference", however precisely it is measured;
- ``undecided``: neither.

The family (a difference and an equivalence hypothesis per cell) is corrected with Holm.
Under adaptive seeds the same family is tested after every round; each hypothesis then
gets a group-sequential boundary from a Lan-DeMets alpha-spending function (O'Brien-Fleming
type by default, Pocock type on request) at its Holm level, and a rejected hypothesis passes
its alpha on to the others: Holm's procedure on group-sequential tests (Maurer & Bretz 2013,
"Multiple testing in group sequential trials using graphical approaches"). The boundaries
come from the recursive integration of Armitage, McPherson & Rowe (1969) on the Brownian
score process, as in Jennison & Turnbull (2000), ch. 19.

Tests are SciPy's t distribution on summary statistics (so a simulation can vectorise);
power is statsmodels' ``TTestIndPower``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

ALPHA = 0.05
POWER = 0.8
BETTER, WORSE, EQUIVALENT, UNDECIDED, REFERENCE = (
    "better",
    "worse",
    "equivalent",
    "undecided",
    "reference",
)
VERDICTS = (BETTER, WORSE, EQUIVALENT, UNDECIDED)
SPENDING = ("obrien_fleming", "pocock")


# --- power --------------------------------------------------------------------------------------


def detectable_effect(n: int, sd: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest difference of two cell means (``n`` seeds each, seed spread ``sd``) a
    two-sided t-test at ``alpha`` detects with ``power``; NaN below 2 seeds."""
    from statsmodels.stats.power import TTestIndPower

    if n < 2 or not np.isfinite(sd):
        return float("nan")
    d = TTestIndPower().solve_power(nobs1=n, alpha=alpha, power=power, ratio=1.0)
    return float(d) * sd


def seeds_needed(effect: float, sd: float, alpha: float = ALPHA, power: float = POWER) -> int:
    """Seeds per cell for a two-sided t-test at ``alpha`` to detect ``effect`` with ``power``."""
    from statsmodels.stats.power import TTestIndPower

    if sd == 0:
        return 2
    n = TTestIndPower().solve_power(effect_size=abs(effect) / sd, alpha=alpha, power=power)
    return max(2, math.ceil(float(np.ravel(n)[0])))


def pooled_sd(values: pd.DataFrame, metric: str) -> tuple[float, int]:
    """The seed standard deviation pooled over cells (``cell``, ``metric`` columns), and its
    degrees of freedom; NaN and 0 when no cell has two seeds."""
    g = values.groupby("cell")[metric]
    n, var = g.count(), g.var(ddof=1)
    keep = n >= 2
    df = int((n[keep] - 1).sum())
    if df == 0:
        return float("nan"), 0
    return float(math.sqrt(((n[keep] - 1) * var[keep]).sum() / df)), df


@dataclass(frozen=True)
class Power:
    """Attributes:
    sd: The seed standard deviation (NaN when unknown); ``source`` says where it came from.
    seeds: Seeds per cell the plan runs (the maximum, under adaptive seeds).
    comparisons: Cells compared with the reference (the Holm family's size).
    min_effect: ``tune.min_effect``, or None.
    """

    sd: float
    source: str
    seeds: int
    comparisons: int
    min_effect: float | None

    def detectable(self, alpha: float = ALPHA) -> float:
        return detectable_effect(self.seeds, self.sd, alpha)

    def needed(self, alpha: float = ALPHA) -> int | None:
        if self.min_effect is None or self.sd != self.sd:
            return None
        return seeds_needed(self.min_effect, self.sd, alpha)


# --- alpha spending and boundaries --------------------------------------------------------------


def spent(t: float, alpha: float, kind: str = "obrien_fleming") -> float:
    """Lan-DeMets alpha spent by information fraction ``t`` (0..1)."""
    from scipy.stats import norm

    t = min(max(t, 0.0), 1.0)
    if t == 0:
        return 0.0
    if kind == "pocock":
        return alpha * math.log(1 + (math.e - 1) * t)
    return float(2 * (1 - norm.cdf(norm.ppf(1 - alpha / 2) / math.sqrt(t))))


@lru_cache(maxsize=4096)
def nominal_levels(
    fractions: tuple[float, ...], alpha: float, sides: int = 2, kind: str = "obrien_fleming"
) -> tuple[float, ...]:
    """Per look, the nominal p-value a test must reach to stop there, so that the chance of
    ever crossing under the null is ``alpha``.

    Args:
        fractions: Increasing information fractions of the looks (seeds / max seeds).
        sides: 2 for a two-sided test (``|Z| >= c``), 1 for a one-sided one (``Z >= c``).
    """
    from scipy.stats import norm

    h = 0.02
    grid = np.arange(-12.0, 12.0 + h, h)  # the score W(t) = Z * sqrt(t)
    dens: np.ndarray | None = None
    prev_t, prev_spent = 0.0, 0.0
    out = []
    for t in fractions:
        target = spent(t, alpha, kind) - prev_spent
        dt = t - prev_t
        if dens is None:
            f = norm.pdf(grid, scale=math.sqrt(t))
        else:
            # the increment's density on the same grid: a convolution (grid symmetric at 0)
            kernel = norm.pdf(grid, scale=math.sqrt(dt))
            f = np.convolve(dens, kernel, mode="same") * h
        if target <= 0 or dt <= 0:
            out.append(0.0)
            dens, prev_t = f, t
            continue
        z = grid / math.sqrt(t)
        c = _boundary(z, f * h, target, sides)
        out.append(float(sides * (1 - norm.cdf(c))))
        inside = (np.abs(z) < c) if sides == 2 else (z < c)
        dens = np.where(inside, f, 0.0)
        prev_t, prev_spent = t, prev_spent + target
    return tuple(out)


def _boundary(z: np.ndarray, mass: np.ndarray, target: float, sides: int) -> float:
    """The ``c`` whose crossing mass (``|z| >= c`` or ``z >= c``) is ``target``."""
    order = np.argsort(-np.abs(z) if sides == 2 else -z)
    key = (np.abs(z) if sides == 2 else z)[order]
    tail = np.cumsum(mass[order])
    i = int(np.searchsorted(tail, target))
    return float(key[min(i, len(key) - 1)])


@dataclass(frozen=True)
class Looks:
    """The seed counts a cell is looked at, the alpha-spending function, and the futility
    threshold: an undecided cell whose chance of any verdict by the last look is below it
    gets no more seeds (0: never)."""

    seeds: tuple[int, ...]
    kind: str = "obrien_fleming"
    futility: float = 0.0

    def fractions(self) -> tuple[float, ...]:
        return tuple(n / self.seeds[-1] for n in self.seeds)

    def level(self, look: int, alpha: float, sides: int) -> float:
        """The nominal p-value to stop at look ``look`` (0-based) for a test at ``alpha``."""
        return nominal_levels(self.fractions(), round(alpha, 12), sides, self.kind)[look]


FIXED = Looks((1,))  # one look: the nominal levels are the plain ones
SD_BOUND = 0.9  # the futility rule plugs in the seed sd's lower bound at this confidence


def decision_chance(
    d: np.ndarray, n_max: int, delta: float | None, lev_d: float, lev_e: float
) -> float:
    """The predictive probability that paired differences ``d`` (seeds so far) reach a
    verdict at ``n_max`` seeds: a difference (two-sided, nominal level ``lev_d``) or
    equivalence within ±``delta`` (TOST, ``lev_e``).

    Flat prior on the true difference, the seed sd (its lower 90% confidence bound) plugged
    in: the final mean is then normal
    around today's mean with variance ``sd**2 (n_max - n) / (n_max n)`` (Spiegelhalter,
    Freedman & Blackburn 1986; Jennison & Turnbull 2000, sec. 10.3).
    """
    from scipy.special import chdtri, ndtr, stdtrit

    n = len(d)
    sd = float(np.std(d, ddof=1)) if n > 1 else 0.0
    if n >= n_max or not sd > 0:
        return 1.0  # nothing to predict (or a degenerate spread): never stop on it
    # a small spread makes every verdict likelier: take the sd's lower 90% bound, so a
    # cell that only looks hopeless through a noisy sd of few seeds goes on
    sd *= math.sqrt((n - 1) / float(chdtri(n - 1, 1 - SD_BOUND)))
    mean, se_end = float(np.mean(d)), sd / math.sqrt(n_max)
    tau = sd * math.sqrt((n_max - n) / (n_max * n))
    c = float(stdtrit(n_max - 1, 1 - lev_d / 2)) * se_end
    p = float(ndtr((-c - mean) / tau) + ndtr((mean - c) / tau))
    if delta is not None:
        e = delta - float(stdtrit(n_max - 1, 1 - lev_e)) * se_end
        if e > 0:
            p += float(ndtr((e - mean) / tau) - ndtr((-e - mean) / tau))
    return min(p, 1.0)


# --- one comparison -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """A cell against the reference: ``diff`` = cell - reference.

    Attributes:
        p_diff: Two-sided p of "no difference".
        p_equiv: TOST p of "the difference is at least min_effect" (NaN without one).
        test: ``paired (k)`` over k shared seeds, or ``Welch``.
    """

    n: int
    diff: float
    low: float
    high: float
    p_diff: float
    p_equiv: float
    test: str

    @property
    def paired(self) -> bool:
        return self.test.startswith("paired")


def summary_test(diff: Any, se: Any, df: Any, delta: float | None, confidence: float = 0.95) -> Any:
    """(CI low, CI high, p of no difference, TOST p within ±delta) from a difference, its
    standard error and degrees of freedom. Works on arrays too."""
    d, s, f = np.asarray(diff, float), np.asarray(se, float), np.asarray(df, float)
    return _summary_test(d, s, f, delta, confidence)


def _summary_test(
    diff: np.ndarray, se: np.ndarray, df: np.ndarray, delta: float | None, confidence: float
) -> Any:
    # scipy.special's t distribution (stdtr: CDF, stdtrit: quantile): what scipy.stats.t
    # calls underneath, without its per-call overhead, which dominates a simulation
    from scipy.special import stdtr, stdtrit

    with np.errstate(divide="ignore", invalid="ignore"):
        q = stdtrit(df, 0.5 + confidence / 2)
        lo, hi = diff - q * se, diff + q * se
        tstat = np.where(se > 0, diff / se, np.where(diff == 0, 0.0, np.inf * np.sign(diff)))
        p_diff = 2 * stdtr(df, -np.abs(tstat))
        if delta is None:
            p_eq = np.full_like(diff, np.nan)
        else:
            lower = np.where(se > 0, (diff + delta) / se, np.where(diff > -delta, np.inf, -np.inf))
            upper = np.where(se > 0, (diff - delta) / se, np.where(diff < delta, -np.inf, np.inf))
            p_eq = np.maximum(stdtr(df, -lower), stdtr(df, upper))
    return lo, hi, p_diff, p_eq


def _compare_all(
    xs: list[np.ndarray], ref: np.ndarray, delta: float | None, paired: bool, conf: float
) -> list[Comparison]:
    """:func:`compare` of several cells with the reference on the same seeds, at once (the
    replay's fast path: it runs every look again each round)."""
    if not xs:
        return []
    if not paired:
        return [compare(pd.Series(x), pd.Series(ref), delta, False, conf) for x in xs]
    d = np.stack(xs) - ref
    k = d.shape[1]
    diff, se = d.mean(axis=1), d.std(axis=1, ddof=1) / math.sqrt(k)
    lo, hi, p, p_eq = summary_test(diff, se, np.full(len(xs), k - 1.0), delta, conf)
    return [
        Comparison(
            k,
            float(diff[j]),
            float(lo[j]),
            float(hi[j]),
            float(p[j]),
            float(p_eq[j]),
            f"paired ({k})",
        )
        for j in range(len(xs))
    ]


def compare(
    x: pd.Series, ref: pd.Series, delta: float | None, paired: bool = True, confidence: float = 0.95
) -> Comparison:
    """``x`` and ``ref`` are metric values indexed by seed. Paired on the shared seeds when
    ``paired`` and they share at least two; else Welch."""
    shared = x.index.intersection(ref.index)
    if paired and len(shared) >= 2:
        d = (x[shared] - ref[shared]).to_numpy(float)
        k = len(d)
        diff, se, test = d.mean(), d.std(ddof=1) / math.sqrt(k), f"paired ({k})"
        df = float(k - 1)
    else:
        a, b = x.to_numpy(float), ref.to_numpy(float)
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        diff, se, test = a.mean() - b.mean(), math.sqrt(va + vb), "Welch"
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else 1.0
    lo, hi, p, p_eq = summary_test(diff, se, df, delta, confidence)
    return Comparison(len(x), float(diff), float(lo), float(hi), float(p), float(p_eq), test)


# --- the family ---------------------------------------------------------------------------------


def holm_sequential(
    p_diff: np.ndarray,
    p_equiv: np.ndarray,
    look: int,
    looks: Looks = FIXED,
    alpha: float = ALPHA,
    settled: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Which difference and which equivalence hypotheses Holm rejects at this look.

    The family has one difference hypothesis per cell and, where ``p_equiv`` is not NaN, one
    equivalence hypothesis. A cell's two null hypotheses ("no difference", "a difference of
    at least min_effect") cannot both be true, so the step-down divides ``alpha`` by the
    number of cells that may still hold a true null, not by the number of hypotheses
    (Shaffer 1986). Each hypothesis is tested against its group-sequential boundary at that
    level; each rejection raises the level for the rest. ``settled`` marks hypotheses
    rejected at earlier looks. A p-value of 1 keeps a hypothesis in the family, never
    rejected (a decided cell's other hypothesis).
    """
    k = len(p_diff)
    p = np.concatenate([p_diff, p_equiv])
    sides = np.array([2] * k + [1] * len(p_equiv))
    tested = ~np.isnan(p)
    rejected = np.zeros(len(p), bool) if settled is None else settled.copy()
    while True:
        open_ = np.where(tested & ~rejected)[0]
        live = tested & ~rejected
        m = int((live[:k] | live[k:]).sum())  # cells that may still hold a true null
        if m == 0 or not len(open_):
            break
        # the most significant open hypothesis, relative to its own boundary
        levels = np.array([looks.level(look, alpha / m, int(sides[i])) for i in open_])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(levels > 0, p[open_] / levels, np.inf)
        best = int(np.argmin(ratio))
        if not ratio[best] <= 1:
            break
        rejected[open_[best]] = True
    return rejected[:k], rejected[k:]


def verdict_of(diff: float, sign: float, diff_rejected: bool, equiv_rejected: bool) -> str:
    if equiv_rejected:
        return EQUIVALENT
    if diff_rejected:
        return BETTER if sign * diff > 0 else WORSE
    return UNDECIDED


def family_verdicts(
    by_cell: dict[str, pd.Series],
    reference: str,
    mode: str,
    delta: float | None,
    *,
    paired: bool = True,
    look: int = 0,
    looks: Looks = FIXED,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Every cell against ``reference``: the comparison and its verdict, Holm over the family.

    Args:
        by_cell: Cell -> metric values indexed by seed.

    Returns:
        One row per cell (the reference's verdict is ``reference``): n, diff, low, high,
        p_diff, p_equiv, test, verdict.
    """
    ref = by_cell[reference]
    rows: list[dict[str, Any]] = []
    for cell, x in by_cell.items():
        if cell == reference:
            rows.append(dict(cell=cell, n=len(x), diff=0.0, verdict=REFERENCE, test=""))
            continue
        if len(x) < 2 or len(ref) < 2:
            rows.append(dict(cell=cell, n=len(x), diff=x.mean() - ref.mean(), test=""))
            continue
        c = compare(x, ref, delta, paired)
        rows.append(dict(cell=cell, **c.__dict__))
    out = pd.DataFrame(rows).reindex(
        columns=["cell", "n", "diff", "low", "high", "p_diff", "p_equiv", "test", "verdict"]
    )
    others = out["verdict"].ne(REFERENCE).to_numpy()
    rd, re = holm_sequential(
        out.loc[others, "p_diff"].to_numpy(float),
        out.loc[others, "p_equiv"].to_numpy(float),
        look,
        looks,
        alpha,
    )
    sign = 1.0 if mode == "max" else -1.0
    out.loc[others, "verdict"] = [
        verdict_of(d, sign, a, b) for d, a, b in zip(out.loc[others, "diff"], rd, re)
    ]
    return out


def sequential_verdicts(
    by_cell: dict[str, pd.Series],
    reference: str,
    mode: str,
    delta: float | None,
    seeds: Sequence[int],
    looks: Looks,
    *,
    paired: bool = True,
    alpha: float = ALPHA,
) -> tuple[pd.DataFrame, int]:
    """The adaptive-seeds verdicts, replayed look by look from the stored results.

    At look ``k`` every cell still undecided (and the reference) must have the first
    ``looks.seeds[k]`` of ``seeds``; the replay stops at the first look that is not complete,
    so a resumed sweep reaches the same decisions as an uninterrupted one. A decided cell
    keeps its verdict (and the comparison it was decided on); its other hypothesis stays in
    the family, never rejected, so it passes on no alpha.

    Returns:
        The table of :func:`family_verdicts` plus ``look`` (the look each row is from), and
        the number of complete looks.
    """
    others = [c for c in by_cell if c != reference]
    m = len(others)
    done_d, done_e = np.zeros(m, bool), np.zeros(m, bool)
    # plain arrays by seed position: the replay runs every look again each round
    pos = {s: i for i, s in enumerate(seeds)}
    values: dict[str, np.ndarray] = {}
    for c, x in by_cell.items():
        arr = np.full(len(seeds), np.nan)
        for seed, v in x.items():
            if seed in pos:
                arr[pos[seed]] = v
        values[c] = arr
    rows: dict[str, dict[str, Any]] = {}
    complete = 0
    for k, n in enumerate(looks.seeds):
        use = slice(0, n)
        active = [i for i, c in enumerate(others) if _open(rows, c)]
        need = [reference] + [others[i] for i in active]
        if any(np.isnan(values[c][use]).any() for c in need):
            break
        ref = values[reference][use]
        p_d, p_e = np.ones(m), np.full(m, np.nan if delta is None else 1.0)
        # a repeated confidence interval: it covers at 1 - alpha over every look at once
        conf = 1 - looks.level(k, alpha, 2) if len(looks.seeds) > 1 else 1 - alpha
        found = _compare_all([values[others[i]][use] for i in active], ref, delta, paired, conf)
        for i, got in zip(active, found):
            rows[others[i]] = dict(cell=others[i], **got.__dict__, look=k, verdict=UNDECIDED)
            p_d[i], p_e[i] = got.p_diff, got.p_equiv
        done_d, done_e = holm_sequential(
            p_d, p_e, k, looks, alpha, np.concatenate([done_d, done_e])
        )
        sign = 1.0 if mode == "max" else -1.0
        for i in active:
            r = rows[others[i]]
            r["verdict"] = verdict_of(r["diff"], sign, bool(done_d[i]), bool(done_e[i]))
        if looks.futility > 0 and paired and k + 1 < len(looks.seeds):
            _futility(rows, others, active, values, ref, use, looks, delta, alpha, done_d, done_e)
        complete = k + 1
    out = [dict(cell=reference, n=len(by_cell[reference]), diff=0.0, verdict=REFERENCE, test="")]
    for name in others:
        out.append(rows.get(name, dict(cell=name, n=len(by_cell[name]), diff=np.nan, test="")))
    cols = ["cell", "n", "diff", "low", "high", "p_diff", "p_equiv", "test", "verdict", "look"]
    table = pd.DataFrame(out).reindex(columns=[*cols, "futile"])
    table["verdict"] = table["verdict"].fillna(UNDECIDED)
    table["futile"] = table["futile"].astype("boolean").fillna(False).astype(bool)
    return table, complete


def _futility(
    rows: dict[str, dict[str, Any]],
    others: list[str],
    active: list[int],
    values: dict[str, np.ndarray],
    ref: np.ndarray,
    use: slice,
    looks: Looks,
    delta: float | None,
    alpha: float,
    done_d: np.ndarray,
    done_e: np.ndarray,
) -> None:
    """Mark the undecided cells whose chance of any verdict by the last look is below
    ``looks.futility``: they get no more seeds and stay undecided. Non-binding (the
    boundaries ignore it), so it cannot raise the error rates (Jennison & Turnbull 2000,
    sec. 10.6). The last look's levels are taken at the Holm step of the cells still open."""
    tested_e = delta is not None
    m = int(((~done_d) | (tested_e & ~done_e)).sum()) or 1
    last = len(looks.seeds) - 1
    lev_d, lev_e = looks.level(last, alpha / m, 2), looks.level(last, alpha / m, 1)
    for i in active:
        r = rows[others[i]]
        if r["verdict"] != UNDECIDED:
            continue
        d = values[others[i]][use] - ref
        if decision_chance(d, looks.seeds[-1], delta, lev_d, lev_e) < looks.futility:
            r["futile"] = True


def still_open(table: pd.DataFrame) -> list[str]:
    """The cells of a :func:`sequential_verdicts` table that take more seeds: undecided and
    not stopped for futility."""
    futile = table["futile"] if "futile" in table else pd.Series(False, index=table.index)
    keep = (table["verdict"] == UNDECIDED) & ~futile.astype(bool)
    return table.loc[keep, "cell"].tolist()


def cell_verdicts(
    done: pd.DataFrame,
    metric: str,
    reference: str,
    mode: str,
    delta: float | None,
    adaptive: dict[str, Any] | None = None,
    seeds: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Every finished cell's verdict against ``reference`` (index: cell): fixed seeds in
    one look, adaptive seeds replayed look by look."""
    by_cell = {c: g.set_index("seed")[metric].astype(float) for c, g in done.groupby("cell")}
    if adaptive:
        # a store from before futility stopping ran without it: replay it so
        looks = Looks(seed_schedule(adaptive["min"], adaptive["max"], adaptive.get("step", 1)),
                      adaptive.get("spending", "obrien_fleming"),
                      float(adaptive.get("futility", 0.0)))  # fmt: skip
        order = list(seeds or range(adaptive["max"]))
        table, _ = sequential_verdicts(by_cell, reference, mode, delta, order, looks)
    else:
        table = family_verdicts(by_cell, reference, mode, delta)
    return table.set_index("cell")


def interval_verdicts(
    diff: Any, low: Any, high: Any, mode: str, delta: float | None, df: float = 1e6
) -> list[str]:
    """Verdicts of contrasts known by their estimate and 95% CI (a marginal effect): the
    standard error is read back from the CI, then one Holm family as for cells. NaN rows
    (the reference level) are ``reference``."""
    from scipy import stats

    d, lo, hi = (np.asarray(x, float) for x in (diff, low, high))
    q = float(stats.t.ppf(0.975, df))
    se = (hi - lo) / (2 * q)
    tested = np.isfinite(se)
    out = [REFERENCE] * len(d)
    if not tested.any():
        return out
    _, _, p, p_eq = summary_test(d[tested], se[tested], np.full(tested.sum(), df), delta)
    rd, re = holm_sequential(np.atleast_1d(p), np.atleast_1d(p_eq), 0)
    sign = 1.0 if mode == "max" else -1.0
    for j, i in enumerate(np.where(tested)[0]):
        out[i] = verdict_of(float(d[i]), sign, bool(rd[j]), bool(re[j]))
    return out


def _open(rows: dict[str, dict[str, Any]], cell: str) -> bool:
    row = rows.get(cell, {})
    return row.get("verdict", UNDECIDED) == UNDECIDED and not row.get("futile", False)


def look_index(looks: Looks, n: int) -> int:
    """The look at which a cell with ``n`` seeds is judged (the last one not above ``n``)."""
    return max(0, int(np.searchsorted(np.asarray(looks.seeds), n, side="right")) - 1)


def seed_schedule(low: int, high: int, step: int) -> tuple[int, ...]:
    """Seed counts of the rounds: ``low``, ``low + step``, ..., ``high``."""
    out = [*range(low, high, step), high]
    return tuple(dict.fromkeys(out))


__all__ = [
    "ALPHA",
    "BETTER",
    "EQUIVALENT",
    "FIXED",
    "REFERENCE",
    "SPENDING",
    "UNDECIDED",
    "VERDICTS",
    "WORSE",
    "Comparison",
    "Looks",
    "Power",
    "cell_verdicts",
    "compare",
    "decision_chance",
    "detectable_effect",
    "family_verdicts",
    "holm_sequential",
    "interval_verdicts",
    "look_index",
    "nominal_levels",
    "pooled_sd",
    "seed_schedule",
    "seeds_needed",
    "sequential_verdicts",
    "spent",
    "still_open",
    "summary_test",
    "verdict_of",
]
