"""Seed-aware ASHA: a cell's seeds are promoted or stopped together, on the group's mean or
its lower confidence bound, so that early stopping does not pick lucky seeds.

Ray Tune's ``AsyncHyperBandScheduler`` judges each trial on its own value at a rung. Here a
rung records one value per *seed group* (the trials of one cell): the group is judged once
all its seeds have reached the rung, against the other complete groups there (ASHA's rule:
the top ``1 / reduction_factor`` go on). A seed that reached the rung first goes on
meanwhile; once its group is stopped it stops at its next result. A seed that finishes
(``max_t``) before its group is judged promotes the group at every rung still open (the
promotion does not depend on that seed's value, so no lucky seed picks it). Trials are not
paused: a seed two epochs ahead of its twin may be in its last epoch when its group stops.

:class:`GroupRungs` is the bookkeeping, pure; ``SeedGroupASHA`` (made on first use, so this
module imports no Ray) is Ray's scheduler with it. ``ablate`` asks for it through
:meth:`ablate.search.schedulers.asha.Asha.tune_scheduler`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ablate.layout import split_params

CONTINUE, STOP = "CONTINUE", "STOP"
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
    """

    def __init__(
        self, rungs: list[int], reduction_factor: float, sizes: Mapping[str, int], rule: str
    ) -> None:
        self.rungs = sorted(rungs)
        self.rf = reduction_factor
        self.sizes = dict(sizes)
        self.rule = rule
        self.values: dict[int, dict[str, dict[str, float]]] = {r: {} for r in self.rungs}
        self.decided: dict[tuple[int, str], str] = {}

    def on_result(self, trial: str, group: str, t: float, value: float) -> str:
        """``value``: larger is better. STOP when the group is stopped at any rung <= t."""
        for rung in self.rungs:
            if self.decided.get((rung, group)) == STOP:
                return STOP
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

    def finished(self, group: str) -> None:
        """A seed of ``group`` trained to the end: the group goes on at every rung where it
        is not judged yet (unless it was stopped already, then that seed was too)."""
        for rung in self.rungs:
            self.decided.setdefault((rung, group), CONTINUE)

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
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler

    class SeedGroupASHA(FIFOScheduler):
        """Ray Tune scheduler: ASHA over seed groups (:class:`GroupRungs`)."""

        def __init__(
            self,
            time_attr: str,
            max_t: int,
            grace_period: int,
            reduction_factor: float,
            sizes: Mapping[str, int],
            rule: str,
        ) -> None:
            super().__init__()
            self._time_attr, self._max_t = time_attr, max_t
            self._rungs = GroupRungs(
                rungs_of(grace_period, reduction_factor, max_t), reduction_factor, sizes, rule
            )
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
            action = self._rungs.on_result(
                trial.trial_id,
                group,
                result[self._time_attr],
                self._op * float(result[self._metric]),
            )
            if result[self._time_attr] >= self._max_t:
                self._rungs.finished(group)
                return TrialScheduler.STOP
            return TrialScheduler.STOP if action == STOP else TrialScheduler.CONTINUE

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


__all__ = ["PROMOTE", "GroupRungs", "group_key", "group_stat", "rungs_of"]
