"""Built-in necks."""

from components.necks import pooling  # noqa: F401
