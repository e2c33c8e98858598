"""Built-in datasets."""

from components.datasets import cifar, digits, npz, synthetic  # noqa: F401
