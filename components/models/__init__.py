"""Built-in models."""

from ablate_components.models import image_classifier, localizer, regressor, retrieval_net  # noqa: F401
