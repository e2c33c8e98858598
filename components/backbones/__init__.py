"""Built-in backbones."""

from ablate_components.backbones import convnet, mlp, resnet, vision_transformer  # noqa: F401
