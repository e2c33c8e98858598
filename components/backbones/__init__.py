"""Built-in backbones."""

from components.backbones import resnet  # noqa: F401
