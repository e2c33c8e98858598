"""Built-in datasets."""

from ablate_components.datasets import (  # noqa: F401
    cifar,
    clutter,
    diabetes,
    digit_identities,
    digits,
    npz,
    synthetic,
)
