"""The built-in component library. Importing it registers everything."""

from components import backbones, datasets, heads, losses, models, necks  # noqa: F401
