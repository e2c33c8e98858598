"""The report's input contract, its validation, and the one place duplicates are resolved.

``trials`` (one row per trial; extra columns are kept and ignored):

===============  ==========================================================================
column           meaning
===============  ==========================================================================
``trial_id``     str, unique per row
``cell``         str, stable hash of the trial's config without its seed
``seed``         int
``status``       ``'FINISHED'``, ``'FAILED'``, ``'RUNNING'``, ... (only FINISHED is analysed)
``error``        str or None; a traceback is fine, the report shows its exception line
``duration_s``   float, wall seconds of the trial
``<metric>``     the final value of each metric, by name (``val/top1``, ``val/loss``, ...)
``param.<dim>``  one per search dimension, ``<dim>`` the readable dimension name, e.g.
                 ``param.neck`` = ``'GeneralizedMeanPooling'``, ``param.neck.p`` = 3.1,
                 NaN/None when a conditional dimension does not apply to the trial
``end_time``     optional; when present it orders re-runs, otherwise row order does
===============  ==========================================================================

``curves`` (long form): ``trial_id``, ``step`` (epoch), ``metric``, ``value``.

``meta``: a :class:`SweepMeta` (or a dict with its fields).

Duplicates: when several rows share ``(cell, seed)`` (a re-run, a resumed sweep merged with
its first invocation), only the latest FINISHED row counts; the others stay in results.csv
with ``counted = False`` and a note, and the report says how many were dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ablate.errors import AblateError, did_you_mean
from ablate.layout import CURVE_COLUMNS, FINISHED, TRIAL_COLUMNS

MODES = ("max", "min")
NA = "n/a"  # the level of a conditional dimension that does not apply


@dataclass(frozen=True)
class Dim:
    """One search dimension.

    Attributes:
        name: Readable name; the trials column is ``param.<name>``.
        categorical: True for component choices (strings), False for numbers.
    """

    name: str
    categorical: bool

    @property
    def column(self) -> str:
        return f"param.{self.name}"

    def nested_in(self, other: Dim) -> bool:
        """``neck.p`` is nested in ``neck``: it only exists for some of neck's choices."""
        return self.name.startswith(other.name + ".")


@dataclass
class SweepMeta:
    """What the report needs to know about the sweep besides its trials.

    Attributes:
        name: The sweep's name (the report title).
        metric: The metric column the sweep optimises, e.g. ``val/top1``.
        mode: ``'max'`` or ``'min'``.
        strategy: The sweep's strategy by name (``'factorial'``, ``'one_at_a_time'``, a
            plugin's); the report analyses ``one_at_a_time`` as its own design.
        baseline: Dimension name -> value of the reference cell, or None to compare
            against the best cell.
        dimensions: Search dimensions in display order. Strings and ``{"name", "categorical"}``
            dicts are accepted; a bare string's kind is inferred from its column's dtype.
            Empty means every ``param.*`` column, in column order.
        runs: How many sweep invocations (MLflow parent runs) the table merges, or their ids.
        min_effect: ``tune.min_effect``: with it, cells within ± of the reference are
            ``equivalent`` (TOST); None: three verdicts only.
        adaptive: The adaptive seeds (``{min, max, step, spending}``) the sweep ran with, or
            None for fixed seeds: the verdicts are then replayed look by look.
        seeds: The sweep's seed order (adaptive rounds take the first ones).
        path: An ablation path's steps, ``[{flip, cell, raced}, ...]``, baseline first.
        target: Where the path ends and why: ``{how: named|best, cell, point, mean, seeds,
            screened}`` (``best``: the best mean of the screening round).
    """

    name: str
    metric: str
    mode: str = "max"
    strategy: str = "factorial"
    baseline: dict[str, Any] | None = None
    dimensions: list[Any] = field(default_factory=list)
    runs: int | Sequence[str] | None = None
    min_effect: float | None = None
    adaptive: dict[str, Any] | None = None
    seeds: list[int] | None = None
    path: list[dict[str, Any]] | None = None
    target: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AblateError(f"mode must be one of {MODES}, got {self.mode!r}", key="meta.mode")
        # Any strategy's name: a plugin's may be one this process never imported. The
        # report treats one_at_a_time's design apart; every other is crossed.
        if not isinstance(self.strategy, str) or not self.strategy.strip():
            raise AblateError(
                f"expected the name of the sweep's strategy, got {self.strategy!r}",
                key="meta.strategy",
            )

    @classmethod
    def coerce(cls, meta: SweepMeta | Mapping[str, Any]) -> SweepMeta:
        if isinstance(meta, SweepMeta):
            return meta
        known = set(cls.__dataclass_fields__)
        unknown = [k for k in meta if k not in known]
        if unknown:
            k = unknown[0]
            raise AblateError(
                f"unknown field {k!r}{did_you_mean(k, known)}; expected {sorted(known)}", key="meta"
            )
        return cls(**dict(meta))


@dataclass
class Prepared:
    """Validated inputs. ``trials`` keeps every row (plus ``counted``, ``note``, ``cell_id``);
    ``done`` holds only the rows the statistics use: FINISHED, finite metric, deduplicated."""

    trials: pd.DataFrame
    done: pd.DataFrame
    curves: pd.DataFrame
    meta: SweepMeta
    dims: list[Dim]
    n_superseded: int


def _missing(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    absent = [c for c in cols if c not in df.columns]
    if absent:
        c = absent[0]
        raise AblateError(
            f"{what} has no column {c!r}{did_you_mean(c, map(str, df.columns))}; "
            f"expected columns {list(cols)} (see ablate.report.frame)",
            key=what,
        )


def _resolve_dims(meta: SweepMeta, trials: pd.DataFrame) -> list[Dim]:
    raw = list(meta.dimensions) or [
        c[len("param.") :] for c in trials.columns if c.startswith("param.")
    ]
    dims = []
    for d in raw:
        if isinstance(d, Dim):
            dim = d
        elif isinstance(d, Mapping):
            dim = Dim(str(d["name"]), bool(d.get("categorical", True)))
        elif isinstance(d, (tuple, list)):
            dim = Dim(str(d[0]), bool(d[1]))
        else:
            col = f"param.{d}"
            numeric = col in trials and pd.api.types.is_numeric_dtype(trials[col])
            dim = Dim(str(d), not (numeric and not pd.api.types.is_bool_dtype(trials[col])))
        _missing(trials, [dim.column], "trials")
        dims.append(dim)
    return dims


def level_of(value: Any) -> str:
    """A categorical value as a table label: strings as-is, NaN/None as ``n/a``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    return str(value)


def _dedup(trials: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The ``counted`` flag and a ``note`` per row (see the module docstring)."""
    if not trials.duplicated(["cell", "seed"]).any():
        return trials["_ok"].copy(), pd.Series("", index=trials.index, dtype=object)
    if "end_time" in trials:  # rows without an end time count as oldest
        pos = pd.to_datetime(trials["end_time"], errors="coerce").rank(method="first").fillna(-1)
    else:
        pos = pd.Series(np.arange(len(trials)), index=trials.index)
    fin = trials[trials["_ok"]].assign(_pos=pos)
    keep = fin.sort_values("_pos", kind="stable").groupby(["cell", "seed"], dropna=False).tail(1)
    counted = pd.Series(trials.index.isin(keep.index), index=trials.index)
    kept_id = keep.set_index(["cell", "seed"])["trial_id"]
    key = pd.MultiIndex.from_frame(trials[["cell", "seed"]])
    kept_for_row = pd.Series(kept_id.reindex(key).to_numpy(), index=trials.index)
    other = ~counted & kept_for_row.notna()
    note = pd.Series("", index=trials.index, dtype=object)
    dup = other & trials["_ok"]
    note[dup] = "duplicate (cell, seed): superseded by " + kept_for_row[dup].astype(str)
    rerun = other & ~trials["_ok"]
    note[rerun] = "re-run " + kept_for_row[rerun].astype(str) + " finished"
    return counted, note


def prepare(
    trials: pd.DataFrame, curves: pd.DataFrame | None, meta: SweepMeta | Mapping[str, Any]
) -> Prepared:
    """Validate the inputs, normalise dtypes, and mark which rows count."""
    meta = SweepMeta.coerce(meta)
    _missing(trials, TRIAL_COLUMNS, "trials")
    if meta.metric not in trials.columns:
        _missing(trials, [meta.metric], "trials")
    if curves is None:
        curves = pd.DataFrame({c: [] for c in CURVE_COLUMNS})
    _missing(curves, CURVE_COLUMNS, "curves")
    dims = _resolve_dims(meta, trials)

    t = trials.copy().reset_index(drop=True)
    t["trial_id"] = t["trial_id"].astype(str)
    t["cell"] = t["cell"].astype(str)
    t["seed"] = pd.to_numeric(t["seed"], errors="coerce").astype("Int64")  # "3" from MLflow tags
    t["status"] = t["status"].astype(str).str.upper()
    t["duration_s"] = pd.to_numeric(t["duration_s"], errors="coerce")
    t[meta.metric] = pd.to_numeric(t[meta.metric], errors="coerce")
    for d in dims:
        if d.categorical:
            t[d.column] = t[d.column].map(level_of).astype(object)
        else:
            t[d.column] = pd.to_numeric(t[d.column], errors="coerce")
    t["_ok"] = (t["status"] == FINISHED) & np.isfinite(t[meta.metric])
    counted, note = _dedup(t)
    no_metric = (t["status"] == FINISHED) & ~t["_ok"] & (note == "")
    t["counted"] = counted
    t["note"] = note.mask(no_metric, f"finished without a finite {meta.metric}")
    n_superseded = int(note.str.startswith("duplicate").sum())
    t = t.drop(columns="_ok")

    c = curves.copy()
    c["trial_id"] = c["trial_id"].astype(str)
    c["step"] = pd.to_numeric(c["step"], errors="coerce")
    c["value"] = pd.to_numeric(c["value"], errors="coerce")
    done = t[t["counted"]].copy()
    done["seed"] = done["seed"].astype(int)
    return Prepared(t, done, c, meta, dims, n_superseded)
