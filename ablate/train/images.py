"""``visual_summary`` images on their way to MLflow, at a bounded rate.

The loop collects image grids every ``train.image_every`` epochs; a trial puts them into
its Tune result as PNG text (:func:`encode_images`), which travels wherever the result
goes (a cluster's worker to the driver, a resumed trial's ``result.json``); the driver's one
MLflow writer decodes them (:func:`decoded_images`) and logs each as a step-wise image.

Bounds: at most :data:`MAX_IMAGES` grids per report, each at most :data:`MAX_SIDE` pixels
on its longer side, on top of ``image_every`` and the grid's 8 images.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import numpy as np

from ablate.layout import RESULT_IMAGE_PREFIX

#: Result keys carrying an image start with this; the rest is the image's name.
IMAGE_PREFIX = RESULT_IMAGE_PREFIX
MAX_IMAGES = 4
MAX_SIDE = 512


def _bounded(img: np.ndarray) -> np.ndarray:
    step = -(-max(img.shape[:2]) // MAX_SIDE)  # ceil: keep the longer side within MAX_SIDE
    return img[::step, ::step] if step > 1 else img


def encode_images(images: Mapping[str, np.ndarray]) -> dict[str, str]:
    """Result entries ``{IMAGE_PREFIX + name: base64 PNG}`` for up to MAX_IMAGES uint8 images
    (H, W) or (H, W, C)."""
    from PIL import Image

    out = {}
    for name in sorted(images)[:MAX_IMAGES]:
        buf = io.BytesIO()
        Image.fromarray(_bounded(np.ascontiguousarray(images[name]))).save(buf, format="PNG")
        out[IMAGE_PREFIX + name] = base64.b64encode(buf.getvalue()).decode("ascii")
    return out


def decoded_images(result: Mapping[str, Any]) -> dict[str, Any]:
    """The images of a result as PIL images, by name; undecodable entries are skipped."""
    from PIL import Image

    out = {}
    for key, value in result.items():
        if not key.startswith(IMAGE_PREFIX) or not isinstance(value, str):
            continue
        try:
            img = Image.open(io.BytesIO(base64.b64decode(value)))
            img.load()
        except Exception:  # a truncated entry must not stop the metrics
            continue
        out[key[len(IMAGE_PREFIX) :]] = img
    return out


__all__ = ["IMAGE_PREFIX", "MAX_IMAGES", "MAX_SIDE", "decoded_images", "encode_images"]
