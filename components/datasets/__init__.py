"""Built-in datasets."""

from ablate_components.datasets import cifar, digits, npz, synthetic  # noqa: F401
