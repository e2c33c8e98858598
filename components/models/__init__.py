"""Built-in models."""

from components.models import image_classifier  # noqa: F401
