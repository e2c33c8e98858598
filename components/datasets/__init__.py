"""Built-in datasets."""

from components.datasets import digits  # noqa: F401
