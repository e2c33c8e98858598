"""Built-in necks."""

from ablate_components.necks import pooling  # noqa: F401
