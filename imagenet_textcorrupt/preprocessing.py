"""A transformers image processor as the transform of one PIL image, and what a results file records of its
settings: shared by the transformers classifiers (`models.from_transformers`) and the CLIP models scored zero-shot
(`zero_shot.backends`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class _ProcessorTransform:
    """A transformers image processor as a transform of one PIL image (a class, so DataLoader workers can take it)."""

    def __init__(self, processor: Any):
        self.processor = processor

    def __call__(self, image: Any) -> Any:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]


def processor_transform(processor: Any) -> Callable[[Any], Any]:
    """One PIL image -> the pixel tensor a transformers image processor makes of it."""
    return _ProcessorTransform(processor)


# what a results file records of a transformers image processor's settings
PROCESSOR_KEYS = ("image_processor_type", "size", "crop_size", "do_resize", "resample", "do_center_crop",
                  "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std")


def processor_settings(processor: Any) -> dict[str, Any]:
    """What a results file records of a transformers image processor."""
    settings = processor.to_dict()
    return {"library": "transformers", **{k: _plain(settings[k]) for k in PROCESSOR_KEYS if k in settings}}


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a processor setting (enums become their names, tuples lists)."""
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "name") and not isinstance(value, (str, dict)):
        return value.name.lower()
    return value
