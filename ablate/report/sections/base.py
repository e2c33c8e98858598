"""The report-section extension point, and what the built-in sections share.

A section is a small class registered in :data:`SECTIONS`: a ``title``, an ``order`` (the
built-ins use 10, 20, ... 80, so a new one slots in between) and :meth:`ReportSection.build`,
which turns the :class:`~ablate.report.analysis.Analysis` into blocks (paragraphs, tables,
figures). Numbers are computed from the order, never written by hand, and a section names
another through ``refs.section(name)`` ("section 8"), so inserting one renumbers every
cross-reference with it. One file per section, plus its registration.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import pandas as pd

from ablate.errors import AblateError, did_you_mean
from ablate.registry import EXTENSIONS_GROUP, Registry
from ablate.report.analysis import Analysis, value_text
from ablate.report.render import Block

#: Report sections by name; the report shows them sorted by ``order``.
SECTIONS = Registry("report section", ordered=True, group=EXTENSIONS_GROUP)

MAX_TABLE_ROWS = 50


class Refs:
    """The computed numbering of one report: name -> number."""

    def __init__(self, numbers: dict[str, int]) -> None:
        self.numbers = numbers

    def section(self, name: str) -> str:
        """``section 8`` for the section registered as ``name``."""
        if name not in self.numbers:
            raise AblateError(
                f"no report section '{name}'{did_you_mean(name, self.numbers)} to refer to",
                hint=f"sections: {', '.join(self.numbers)}",
            )
        return f"section {self.numbers[name]}"


class ReportSection(abc.ABC):
    """Base of every report section. Every section is in every report; when it has nothing
    to show it says why.

    Attributes:
        title: The heading, without its number.
        order: Where it goes; sections are numbered in this order.
    """

    title: ClassVar[str]
    order: ClassVar[float]

    @abc.abstractmethod
    def build(self, a: Analysis, refs: Refs) -> list[Block]:
        """The section's blocks."""


def ordered_sections() -> list[tuple[str, ReportSection]]:
    """Every registered section, in report order, as ``(name, instance)``."""
    found = [(name, cls()) for name, cls in SECTIONS.items()]
    return sorted(found, key=lambda item: item[1].order)


def no_finished(refs: Refs) -> str:
    """What a section says when no trial finished."""
    return (
        "No finished trials, so there is nothing to show here; "
        f"{refs.section('failures')} lists why they failed."
    )


def capped(df: pd.DataFrame, what: str) -> tuple[pd.DataFrame, str]:
    if len(df) <= MAX_TABLE_ROWS:
        return df, ""
    note = f"First {MAX_TABLE_ROWS} of {len(df)} {what}; results.csv has all."
    return df.head(MAX_TABLE_ROWS), note


def dim_columns(a: Analysis, frame: pd.DataFrame) -> pd.DataFrame:
    cols = {d.name: frame[d.name].map(value_text) for d in a.prep.dims}
    return pd.DataFrame(cols, index=frame.index)


def numeric_dims(a: Analysis) -> set[str]:
    return {d.name for d in a.prep.dims if not d.categorical}


__all__ = [
    "MAX_TABLE_ROWS",
    "SECTIONS",
    "Refs",
    "ReportSection",
    "capped",
    "dim_columns",
    "no_finished",
    "numeric_dims",
    "ordered_sections",
]
