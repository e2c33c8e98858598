"""Search strategies: a registry of small classes (:mod:`.base` tells the lifecycle).

Importing this package registers the built-ins, in the order ``ablate`` lists them.
"""

# isort: off
from ablate.search.strategies.base import STRATEGIES, Planning, Strategy
from ablate.search.strategies import factorial, one_at_a_time, random, optuna, ablation_path  # noqa: F401
# isort: on

__all__ = ["STRATEGIES", "Planning", "Strategy"]
