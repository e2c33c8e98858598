"""The built-in component library. Importing it registers everything."""

from ablate_components import backbones, datasets, heads, losses, metrics, models, necks  # noqa: F401
