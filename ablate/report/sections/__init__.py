"""The report's sections: a registry of small classes (:mod:`.base` tells how they work).

Importing this package registers the built-ins; their ``order`` sets the report's order.
"""

# isort: off
from ablate.report.sections.base import SECTIONS, Refs, ReportSection, ordered_sections
from ablate.report.sections import (  # noqa: F401
    how_to_read,
    leaderboard,
    marginals,
    interactions,
    reference,
    path,
    importance,
    curves,
    failures,
)
# isort: on

__all__ = ["SECTIONS", "Refs", "ReportSection", "ordered_sections"]
