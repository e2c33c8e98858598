"""Schedulers: a registry of small classes (:mod:`.base` tells the lifecycle).

Importing this package registers the built-ins, in the order ``ablate`` lists them.
"""

# isort: off
from ablate.search.schedulers.base import SCHEDULERS, Scheduler
from ablate.search.schedulers import fifo, asha  # noqa: F401
# isort: on

__all__ = ["SCHEDULERS", "Scheduler"]
