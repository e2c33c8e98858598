"""The distribution vocabulary of a search dimension: one validated class per distribution.

As Optuna's are, each class checks its bounds when it is made, so a bad space fails when
the file loads, not when a trial draws from it::

    {choice: [a, b]}  {grid: [a, b]}           discrete: crossed by factorial
    {uniform: [lo, hi]}  {loguniform: [lo, hi]}  {randint: [lo, hi)}  {quniform: [lo, hi, q]}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ablate.config import Config

DISCRETE = ("choice", "grid")
CONTINUOUS = ("uniform", "loguniform", "randint", "quniform")
DISTRIBUTIONS = DISCRETE + CONTINUOUS


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def same(a: Any, b: Any) -> bool:
    """Equal, and a bool never equals a number (``True == 1`` in Python, not in a sweep)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


@dataclass(frozen=True)
class Distribution:
    """A validated distribution. ``kind`` is its YAML name, ``args`` its YAML arguments."""

    kind: str
    args: tuple[Any, ...]

    discrete: ClassVar[bool] = False

    @staticmethod
    def parse(raw: Mapping[str, Any], key: str, cfg: Config) -> Distribution:
        """``{kind: args}`` -> the distribution, its arguments checked.

        Raises:
            AblateError: malformed or out-of-order bounds, naming ``<key>.<kind>``.
        """
        ((kind, args),) = raw.items()
        cls = KINDS[kind]
        return cls(kind, cls.check(args, f"{key}.{kind}", cfg))

    @classmethod
    def check(cls, args: Any, where: str, cfg: Config) -> tuple[Any, ...]:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def suggest(self, trial: Any, label: str) -> Any:
        """Ask an ``optuna.Trial`` for a value of this distribution."""
        raise NotImplementedError


class Categorical(Distribution):
    """``choice`` or ``grid``: one of a list of values."""

    discrete = True

    @classmethod
    def check(cls, args: Any, where: str, cfg: Config) -> tuple[Any, ...]:
        if not isinstance(args, list) or not args:
            raise cfg.error(f"expected a non-empty list of values, got {args!r}", where)
        keys = [json.dumps(a, sort_keys=True, default=str) for a in args]
        dup = next((a for a, k in zip(args, keys) if keys.count(k) > 1), None)
        if len(set(keys)) != len(keys):
            raise cfg.error(f"{dup!r} appears twice in {args!r}; list each value once", where)
        return tuple(args)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.args[int(rng.integers(len(self.args)))]

    def contains(self, value: Any) -> bool:
        return any(same(value, a) for a in self.args)

    def describe(self) -> str:
        return f"one of {list(self.args)}"

    def suggest(self, trial: Any, label: str) -> Any:
        return trial.suggest_categorical(label, list(self.args))


class _Interval(Distribution):
    """A number in ``[low, high]``."""

    arity: ClassVar[int] = 2

    @classmethod
    def check(cls, args: Any, where: str, cfg: Config) -> tuple[Any, ...]:
        if not isinstance(args, list) or len(args) != cls.arity or not all(map(is_number, args)):
            shape = "[low, high, q]" if cls.arity == 3 else "[low, high]"
            raise cfg.error(f"expected {shape} numbers, got {args!r}", where)
        if not all(math.isfinite(a) for a in args):
            raise cfg.error(f"expected finite bounds, got {args!r}", where)
        lo, hi = args[0], args[1]
        if not lo < hi:
            raise cfg.error(f"low must be below high, got [{lo}, {hi}]", where)
        return tuple(args)

    def contains(self, value: Any) -> bool:
        return is_number(value) and self.args[0] <= value <= self.args[1]

    def describe(self) -> str:
        return f"a number in [{self.args[0]}, {self.args[1]}]"


class Uniform(_Interval):
    def sample(self, rng: np.random.Generator) -> Any:
        return float(rng.uniform(self.args[0], self.args[1]))

    def suggest(self, trial: Any, label: str) -> Any:
        return trial.suggest_float(label, self.args[0], self.args[1])


class LogUniform(_Interval):
    @classmethod
    def check(cls, args: Any, where: str, cfg: Config) -> tuple[Any, ...]:
        args = super().check(args, where, cfg)
        if args[0] <= 0:
            raise cfg.error(f"loguniform needs low > 0, got {args[0]}", where)
        return args

    def sample(self, rng: np.random.Generator) -> Any:
        lo, hi = self.args
        return float(min(max(math.exp(rng.uniform(math.log(lo), math.log(hi))), lo), hi))

    def suggest(self, trial: Any, label: str) -> Any:
        return trial.suggest_float(label, self.args[0], self.args[1], log=True)


class RandInt(_Interval):
    """An integer in ``[low, high)``."""

    @classmethod
    def check(cls, args: Any, where: str, cfg: Config) -> tuple[Any, ...]:
        args = super().check(args, where, cfg)
        if not all(isinstance(a, int) for a in args):
            raise cfg.error(f"randint takes integers [low, high), got {list(args)!r}", where)
        return args

    def sample(self, rng: np.random.Generator) -> Any:
        return int(rng.integers(self.args[0], self.args[1]))

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (self.args[0] <= value < self.args[1])
        )

    def describe(self) -> str:
        return f"an integer in [{self.args[0]}, {self.args[1]})"

    def suggest(self, trial: Any, label: str) -> Any:
        return trial.suggest_int(label, self.args[0], self.args[1] - 1)


class QUniform(_Interval):
    """The grid ``low + k*q`` up to ``high`` (Optuna's ``step``): every draw is in bounds."""

    arity = 3

    @classmethod
    def check(cls, args: Any, where: str, cfg: Config) -> tuple[Any, ...]:
        args = super().check(args, where, cfg)
        lo, hi, q = args
        if not 0 < q <= hi - lo:
            raise cfg.error(f"quniform needs 0 < q <= high - low, got q={q}", where)
        return args

    def _steps(self) -> int:
        lo, hi, q = self.args
        return math.floor((hi - lo) / q + 1e-9)

    def _grid(self, k: int) -> float:
        lo, _, q = self.args
        return float(round(lo + k * q, 12))

    def sample(self, rng: np.random.Generator) -> Any:
        return self._grid(int(rng.integers(self._steps() + 1)))

    def contains(self, value: Any) -> bool:
        if not super().contains(value):
            return False
        k = round((value - self.args[0]) / self.args[2])
        return math.isclose(self._grid(k), value, rel_tol=1e-9, abs_tol=1e-12)

    def describe(self) -> str:
        lo, hi, q = self.args
        return f"a multiple of {q} above {lo}, up to {hi}"

    def suggest(self, trial: Any, label: str) -> Any:
        return trial.suggest_float(label, self.args[0], self.args[1], step=self.args[2])


KINDS: dict[str, type[Distribution]] = {
    "choice": Categorical,
    "grid": Categorical,
    "uniform": Uniform,
    "loguniform": LogUniform,
    "randint": RandInt,
    "quniform": QUniform,
}

__all__ = [
    "CONTINUOUS",
    "DISCRETE",
    "DISTRIBUTIONS",
    "KINDS",
    "Categorical",
    "Distribution",
    "LogUniform",
    "QUniform",
    "RandInt",
    "Uniform",
    "is_number",
    "same",
]
