"""Built-in backbones."""

from ablate_components.backbones import convnet, resnet, vision_transformer  # noqa: F401
