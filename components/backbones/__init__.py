"""Built-in backbones."""

from components.backbones import convnet, resnet, vision_transformer  # noqa: F401
