"""Built-in models."""

from ablate_components.models import image_classifier  # noqa: F401
