"""The built-in component library. Importing it registers everything."""

from ablate_components import (  # noqa: F401
    backbones,
    datasets,
    heads,
    losses,
    metrics,
    models,
    necks,
    samplers,
)
