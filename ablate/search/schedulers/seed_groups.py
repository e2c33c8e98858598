"""Seed-aware ASHA: a cell's seeds are promoted or stopped together, on the group's mean or
its lower confidence bound, so that early stopping does not pick lucky seeds.

Ray Tune's ``AsyncHyperBandScheduler`` judges each trial on its own value at a rung. Here a
rung records one value per *seed group* (the trials of one cell): the group is judged once
all its seeds have reached the rung.

- **Waiting** (the default, when every group is known up front): as synchronous successive
  halving judges, but as early as each verdict is certain. A group whose verdict is open is
  paused at the rung (Tune's ``PAUSE``; the trial checkpoints there) until it is certain.
- **Asynchronous** (``wait: false``, or trials proposed as others end): against the other
  complete groups there (ASHA's rule: the top ``1 / reduction_factor`` go on). A seed that
  reached the rung first goes on meanwhile; once its group is stopped it stops at its next
  result. A seed that finishes (``max_t``) before its group is judged promotes the group at
  every rung still open (the promotion does not depend on that seed's value).

:class:`GroupRungs` is the bookkeeping, pure; ``SeedGroupASHA`` (made on first use, so this
module imports no Ray) is Ray's scheduler with it. ``ablate`` asks for it through
:meth:`ablate.search.schedulers.asha.Asha.tune_scheduler`.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ablate.layout import split_params

CONTINUE, STOP, PAUSE = "CONTINUE", "STOP", "PAUSE"
PROMOTE = ("mean", "lcb", "trial")  # "trial": Ray's own per-trial ASHA


def group_key(config: Mapping[str, Any]) -> str:
    """A trial's seed group: its point without the seed."""
    point, _ = split_params(config)
    return json.dumps(point, sort_keys=True, default=str)


def group_stat(values: list[float], rule: str) -> float:
    """The mean, or the lower 95% t-bound of the mean (the mean for one seed)."""
    x = np.asarray(values, float)
    if rule != "lcb" or len(x) < 2:
        return float(x.mean())
    from scipy import stats

    return float(x.mean() - stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


class GroupRungs:
    """ASHA's rungs over seed groups.

    Args:
        rungs: Epochs of the rungs (grace_period * reduction_factor ** k below max_t).
        reduction_factor: About 1 in this many groups goes on at each rung.
        sizes: Seeds per group (groups not named have one).
        rule: ``mean`` or ``lcb``.
        wait: Judge as synchronous successive halving does, at the earliest moment the
            verdict is certain: of the ``n`` planned groups the top ``ceil(n / rf)`` go
            on from the first rung, the top ``ceil`` of that ``/ rf`` from the next, and
            so on (:attr:`quota`). A group whose verdict is still open waits (its seeds
            are paused, holding no resources) until enough others have arrived. It needs
            every group up front (``sizes``); without them the rule is asynchronous.
    """

    def __init__(
        self,
        rungs: list[int],
        reduction_factor: float,
        sizes: Mapping[str, int],
        rule: str,
        wait: bool = False,
    ) -> None:
        self.rungs = sorted(rungs)
        self.rf = reduction_factor
        self.sizes = dict(sizes)
        self.rule = rule
        self.wait = wait and bool(self.sizes)
        self.values: dict[int, dict[str, dict[str, float]]] = {r: {} for r in self.rungs}
        self.decided: dict[tuple[int, str], str] = {}
        self.lost: dict[str, set[str]] = {}  # group -> its seeds that ended without a verdict
        self.quota: dict[int, int] = {}  # rung -> how many groups go on from it (wait)
        n = len(self.sizes)
        for rung in self.rungs:
            n = max(1, math.ceil(n / self.rf))
            self.quota[rung] = n
        self._news: list[tuple[str, str]] = []  # (group, verdict) reached since last taken
        self._blind: set[tuple[int, str]] = set()  # verdicts restored without their values
        self._stats: dict[tuple[int, str, int], float] = {}  # (rung, group, n) -> its stat

    def on_result(self, trial: str, group: str, t: float, value: float) -> str:
        """``value``: larger is better. STOP when the group is stopped at any rung <= t;
        PAUSE (``wait`` only) while its verdict at a rung <= t is open."""
        if self.stopped(group):
            return STOP
        if self.wait:
            for rung in self.rungs:
                if t < rung:
                    break
                self.values[rung].setdefault(group, {}).setdefault(trial, value)
            self._settle()
            return self.action(group, t)
        for rung in self.rungs:
            if t < rung:
                break
            got = self.values[rung].setdefault(group, {})
            got.setdefault(trial, value)
            key = (rung, group)
            if key not in self.decided and len(got) >= self.sizes.get(group, 1):
                self.decided[key] = self._decide(rung, group)
            if self.decided.get(key) == STOP:
                return STOP
        return CONTINUE

    def action(self, group: str, t: float) -> str:
        """What a seed of ``group`` at epoch ``t`` does now: STOP, PAUSE or CONTINUE."""
        verdicts = [self.decided.get((rung, group)) for rung in self.rungs if rung <= t]
        if STOP in verdicts:
            return STOP
        return PAUSE if None in verdicts else CONTINUE

    def stopped(self, group: str) -> bool:
        return any(self.decided.get((rung, group)) == STOP for rung in self.rungs)

    def finished(self, group: str) -> None:
        """A seed of ``group`` trained to the end: the group goes on at every rung where it
        is not judged yet (unless it was stopped already, then that seed was too). Under
        ``wait`` a seed reaches the end only through every rung's verdict."""
        if self.wait:
            return
        for rung in self.rungs:
            self.decided.setdefault((rung, group), CONTINUE)

    def seed_lost(self, trial: str, group: str) -> None:
        """A seed of ``group`` ended (failed) before its group's last verdict: the group is
        judged on the seeds it has left (``wait``)."""
        if not self.wait or self.stopped(group):
            return
        self.lost.setdefault(group, set()).add(trial)
        self._settle()

    def restored(self, trial: str, group: str, epoch: float, max_t: int, failed: bool) -> None:
        """A trial a restored Tune experiment brings back already ended (Tune keeps no
        scheduler state): what its end says of its group's verdicts. One that trained to
        ``max_t`` went on at every rung; one that ended at an earlier epoch was stopped at
        the last rung it reached; a failed one is a lost seed."""
        if not self.wait:
            if epoch >= max_t:
                self.finished(group)
            return
        if failed:
            self.seed_lost(trial, group)
            return
        reached = [r for r in self.rungs if r <= epoch]
        if not reached:
            self.seed_lost(trial, group)
            return
        stop_at = None if epoch >= max_t else reached[-1]
        for rung in reached:
            verdict = STOP if rung == stop_at else CONTINUE
            if (rung, group) not in self.decided:
                self.decided[(rung, group)] = verdict
                self._blind.add((rung, group))
        self._settle()

    def take_news(self) -> list[tuple[str, str]]:
        """The verdicts (group, CONTINUE or STOP) reached since the last call."""
        news, self._news = self._news, []
        return news

    def force(self) -> bool:
        """Judge the lowest rung with a waiting group as if no other group were coming:
        for a sweep that can no longer bring them (a safety net, never needed by design).
        Whether any verdict came of it."""
        for rung in self.rungs:
            # every group with a value there, complete or not: no more seeds are coming
            waiting = [g for g in self.values[rung] if self._reported(rung, g)]
            if any((rung, g) not in self.decided for g in waiting):
                above = self._above_all(rung)
                for g in sorted(waiting, key=lambda g: self._rank_key(rung, g)):
                    if (rung, g) not in self.decided:
                        verdict = STOP if above[g] >= self.quota[rung] else CONTINUE
                        self._set(rung, g, verdict)
                self._settle()
                return True
        return False

    # -- waiting: synchronous successive halving, decided as early as it is certain --

    def _reported(self, rung: int, group: str) -> dict[str, float]:
        return self.values[rung].get(group, {})

    def _settled(self, rung: int, group: str) -> bool:
        """Every seed of the group has reported at ``rung`` or is lost."""
        seen = set(self._reported(rung, group)) | self.lost.get(group, set())
        return len(seen) >= self.sizes.get(group, 1)

    def _complete(self, rung: int, group: str) -> bool:
        return self._settled(rung, group) and bool(self._reported(rung, group))

    def _stat(self, rung: int, group: str) -> float:
        # values are only ever added, so their count names them
        got = self._reported(rung, group)
        key = (rung, group, len(got))
        if key not in self._stats:
            self._stats[key] = group_stat(list(got.values()), self.rule)
        return self._stats[key]

    def _rank_key(self, rung: int, group: str) -> tuple[float, str]:
        return (-self._stat(rung, group), group)  # best first; ties by key, stably

    def _above_all(self, rung: int) -> dict[str, int]:
        """For every group with values at ``rung``: how many complete groups rank above it
        there, and the restored groups that went on (they hold a place, rank unknown)."""
        complete = sorted(
            self._rank_key(rung, g)
            for g in self.values[rung]
            if self._complete(rung, g) and (rung, g) not in self._blind
        )
        held = [g for r, g in self._blind if r == rung and self.decided[(r, g)] == CONTINUE]
        return {
            g: bisect.bisect_left(complete, self._rank_key(rung, g)) + sum(h != g for h in held)
            for g in self.values[rung]
            if self._reported(rung, g)
        }

    def _coming(self, k: int) -> int:
        """How many more groups can still complete rung ``rungs[k]``."""
        rung = self.rungs[k]
        if k == 0:
            return sum(
                not self._settled(rung, g) and (rung, g) not in self.decided for g in self.sizes
            )
        prev = self.rungs[k - 1]
        on = [g for g in self.sizes if self.decided.get((prev, g)) == CONTINUE]
        open_ = [
            g
            for g in self.sizes
            if (prev, g) not in self.decided and not self._gone(prev, g) and not self.stopped(g)
        ]
        slots = max(self.quota[prev] - len(on), 0)
        coming = [g for g in on if not self._settled(rung, g) and (rung, g) not in self.decided]
        return len(coming) + min(slots, len(open_))

    def _gone(self, rung: int, group: str) -> bool:
        """Every seed of the group was lost before ``rung``: it will never be judged there."""
        return self._settled(rung, group) and not self._reported(rung, group)

    def _set(self, rung: int, group: str, verdict: str) -> None:
        self.decided[(rung, group)] = verdict
        self._news.append((group, verdict))

    def _settle(self) -> None:
        """Every verdict that is certain now: above ``quota`` others, or with too few
        places left for the groups still coming to push it out."""
        changed = True
        while changed:
            changed = False
            for k, rung in enumerate(self.rungs):
                todo = [
                    g
                    for g in sorted(self.values[rung])
                    if (rung, g) not in self.decided
                    and self._complete(rung, g)
                    # a restored seed re-reporting is judged at the rung below first
                    and not (k and self.decided.get((self.rungs[k - 1], g)) != CONTINUE)
                ]
                if not todo:
                    continue
                coming, ranks = self._coming(k), self._above_all(rung)
                for g in todo:
                    above = ranks[g]  # verdicts here do not move ranks: they rank values
                    if above >= self.quota[rung]:
                        self._set(rung, g, STOP)
                    elif above + coming < self.quota[rung]:
                        self._set(rung, g, CONTINUE)
                    else:
                        continue
                    changed = True

    # -- asynchronous --

    def _decide(self, rung: int, group: str) -> str:
        complete = {
            g: group_stat(list(v.values()), self.rule)
            for g, v in self.values[rung].items()
            if len(v) >= self.sizes.get(g, 1) and g != group
        }
        if not complete:
            return CONTINUE
        cutoff = np.nanpercentile(list(complete.values()), (1 - 1 / self.rf) * 100)
        mine = group_stat(list(self.values[rung][group].values()), self.rule)
        return STOP if mine < cutoff else CONTINUE


def rungs_of(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    out, t = [], float(grace_period)
    while t < max_t:
        out.append(math.ceil(t))
        t *= reduction_factor
    return sorted(set(out))


def _make() -> type:
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler

    actions = {
        CONTINUE: TrialScheduler.CONTINUE,
        STOP: TrialScheduler.STOP,
        PAUSE: TrialScheduler.PAUSE,
    }

    class SeedGroupASHA(FIFOScheduler):
        """Ray Tune scheduler: ASHA over seed groups (:class:`GroupRungs`).

        With ``wait``, it also picks the trials Tune starts (``choose_trial_to_run``): new
        ones first, then paused ones whose group has gone on, at most ``max_running`` at
        a time. Tune's own ``max_concurrent_trials`` counts paused trials, so a rung's
        waiting groups would keep the next ones from being made: each step raises it by
        the number paused (:meth:`_pace`).
        """

        def __init__(
            self,
            time_attr: str,
            max_t: int,
            grace_period: int,
            reduction_factor: float,
            sizes: Mapping[str, int],
            rule: str,
            wait: bool = False,
            max_running: int = 0,
        ) -> None:
            super().__init__()
            self._time_attr, self._max_t = time_attr, max_t
            self._rungs = GroupRungs(
                rungs_of(grace_period, reduction_factor, max_t),
                reduction_factor,
                sizes,
                rule,
                wait=wait,
            )
            self.max_running = max_running
            self._metric: str | None = None
            self._op = 1.0

        def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
            self._metric = metric or self._metric
            self._op = -1.0 if mode == "min" else 1.0
            return True

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
            if self._time_attr not in result or self._metric not in result:
                return TrialScheduler.CONTINUE
            group = group_key(trial.config)
            t = result[self._time_attr]
            action = self._rungs.on_result(
                trial.trial_id, group, t, self._op * float(result[self._metric])
            )
            self._stop_waiting(tune_controller, trial)
            if t >= self._max_t:
                self._rungs.finished(group)
                return TrialScheduler.STOP
            return actions[action]

        def _stop_waiting(self, tune_controller: Any, current: Any) -> None:
            """Stop the paused seeds of the groups a verdict just stopped."""
            stopped = {g for g, verdict in self._rungs.take_news() if verdict == STOP}
            if not stopped:
                return
            for trial in list(tune_controller.get_trials()):
                if trial is current or group_key(trial.config) not in stopped:
                    continue
                if trial.status == Trial.PAUSED or trial.is_saving:
                    tune_controller.stop_trial(trial)

        def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
            # A restored experiment adds its ended trials too; Tune keeps no scheduler state.
            if trial.status in (Trial.TERMINATED, Trial.ERROR):
                epoch = (trial.last_result or {}).get(self._time_attr, 0) or 0
                self._rungs.restored(
                    trial.trial_id,
                    group_key(trial.config),
                    epoch,
                    self._max_t,
                    failed=trial.status == Trial.ERROR,
                )
                self._rungs.take_news()  # nothing is paused yet

        def ended_before(self, config: Mapping[str, Any], epoch: int) -> None:
            """A trial of this sweep an earlier invocation ended at ``epoch`` (skipped now)."""
            group = group_key(config)
            name = f"ended:{json.dumps(dict(config), sort_keys=True, default=str)}"
            self._rungs.restored(name, group, epoch, self._max_t, failed=False)
            self._rungs.take_news()

        def _lost(self, tune_controller: Any, trial: Any) -> None:
            group = group_key(trial.config)
            epoch = (trial.last_result or {}).get(self._time_attr, 0) or 0
            if epoch < self._max_t and not self._rungs.stopped(group):
                self._rungs.seed_lost(trial.trial_id, group)
                self._stop_waiting(tune_controller, trial)

        def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
            self._lost(tune_controller, trial)

        def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
            self._lost(tune_controller, trial)  # a trainable that returned short of max_t

        def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
            self._lost(tune_controller, trial)

        def choose_trial_to_run(self, tune_controller: Any) -> Any:
            if not self._rungs.wait:
                return super().choose_trial_to_run(tune_controller)
            trials = list(tune_controller.get_trials())
            paused = [t for t in trials if t.status == Trial.PAUSED]
            self._pace(tune_controller, len(paused) + sum(t.is_saving for t in trials))
            running = sum(t.status == Trial.RUNNING and not t.is_saving for t in trials)
            if self.max_running and running >= self.max_running:
                return None
            for trial in trials:
                if trial.status == Trial.PENDING:
                    return trial
            for trial in paused:
                if self._goes_on(trial):
                    return trial
            if paused and not running and self._rungs.force():
                # Nothing runs and nothing may: judge with what arrived (never by design).
                self._stop_waiting(tune_controller, None)
                return next(
                    (t for t in paused if t.status == Trial.PAUSED and self._goes_on(t)), None
                )
            return None

        def _pace(self, tune_controller: Any, paused: int) -> None:
            """Tune's cap on trials at once (``max_concurrent_trials``: its variant
            generator makes no new trial while that many are unfinished) counts paused
            ones: raise it by them, so that waiting trials never keep the next ones out."""
            alg: Any = getattr(tune_controller, "search_alg", None)
            if self.max_running and isinstance(getattr(alg, "max_concurrent", None), int):
                alg.max_concurrent = self.max_running + paused

        def _goes_on(self, trial: Any) -> bool:
            epoch = (trial.last_result or {}).get(self._time_attr, 0) or 0
            return self._rungs.action(group_key(trial.config), epoch) == CONTINUE

        def debug_string(self) -> str:
            stopped = sum(v == STOP for v in self._rungs.decided.values())
            return f"Seed-group ASHA ({self._rungs.rule}): {stopped} groups stopped"

    SeedGroupASHA.__module__ = __name__
    SeedGroupASHA.__qualname__ = "SeedGroupASHA"
    return SeedGroupASHA


_CLASSES: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    # Made on first use, so importing this module imports no Ray; pickle (Tune saves the
    # scheduler with the experiment) finds the class by this name.
    if name == "SeedGroupASHA":
        if name not in _CLASSES:
            _CLASSES[name] = _make()
        return _CLASSES[name]
    raise AttributeError(name)


__all__ = [
    "CONTINUE",
    "PAUSE",
    "PROMOTE",
    "STOP",
    "GroupRungs",
    "group_key",
    "group_stat",
    "rungs_of",
]
