"""The ImageNet-C editor: one of the 15 algorithmic corruptions (`builder.editors.corruptions`) at severities 1-5,
behind the same `edit(images, source_prompts, target_prompts, severity, seeds)` call as the diffusion editors, so a
recipe can render ImageNet-C on the same source images as its text-guided edits and every row pairs with the same
original.

    create_editor("imagenet-c", corruption="fog").edit([photo], ["a photo of a cat"], ["fog"], 3, [0])

There is no model: the prompts are recorded in each item's metadata, not used; the severity is ImageNet-C's own
(1 to 5), not a level of the prompt hierarchy; the row seed seeds the corruption's random draws. The prepared
image (the release's centre square at its resolution) is resized to ImageNet-C's 224 x 224 and corrupted there,
since the corruptions' constants are in pixels of that size: the edit is a 224-pixel image of the same crop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from builder.editors.corruptions import (FAMILIES, IMAGENET_C_SIDE, SEVERITIES, check_corruption, corrupt,
                                         corruption_names, frost_digest)
from builder.editors.base import Editor, EditorError, EditResult, register_editor
from builder.editors.preprocess import PreparedImage
from imagenet_textcorrupt.prompts import PromptHierarchy, load_prompts

IMPLEMENTATION = "imagenet-c@2"  # the model identity rows record; bump when a corruption's output changes (2: frost resizes as OpenCV)


def at_imagenet_c_side(prepared: PreparedImage) -> PreparedImage:
    """A prepared image at ImageNet-C's 224 x 224 (Lanczos), keeping what is known of its source."""
    if prepared.image.size == (IMAGENET_C_SIDE, IMAGENET_C_SIDE):
        return prepared
    return dataclasses.replace(prepared, image=prepared.image.resize((IMAGENET_C_SIDE, IMAGENET_C_SIDE),
                                                                     Image.LANCZOS))


@register_editor("imagenet-c")
class ImageNetCEditor(Editor):
    family = "imagenet_c"
    default_model = IMPLEMENTATION
    default_steps = 0
    default_guidance = 0.0
    known_params: dict[str, Any] = {"corruption": None}

    def __init__(self, model: str | None = None, device: str | None = None, dtype: str | None = None,
                 revision: str | None = None, resolution: int = 512, steps: int | None = None,
                 guidance: float | None = None, prompts: PromptHierarchy | None = None, batch_size: int = 8,
                 pin: Any = None, **params: Any):
        if model not in (None, IMPLEMENTATION):
            raise EditorError(f"imagenet-c renders the corruptions itself and takes no model (got model={model!r})")
        self.params = self._check_params(params)
        corruption = self.params["corruption"]
        if corruption is None:
            raise EditorError(f"imagenet-c: say which corruption, e.g. create_editor('imagenet-c', "
                              f"corruption='fog'); one of {', '.join(corruption_names())}")
        check_corruption(corruption)
        # frost fails now, naming where its pictures come from, rather than on every row; rows record which
        self.extra = {"frost_pictures": frost_digest()} if corruption == "frost" else {}
        self.corruption = str(corruption)
        self.model = self.model_id = IMPLEMENTATION
        self.revision, self.device, self.dtype = None, "cpu", "uint8"
        self.resolution, self.steps, self.guidance = int(resolution), 0, 0.0
        self.batch_size = int(batch_size)
        self.prompts = prompts or load_prompts()
        self.pin = None

    def severity_knobs(self, severity: int) -> dict[str, float]:
        if isinstance(severity, bool) or severity not in SEVERITIES:
            raise EditorError(f"imagenet-c ({self.corruption}): severity {severity!r} is not one of 1, 2, 3, 4, 5")
        return {}  # the severity column says it all: ImageNet-C's levels have no knobs to record

    def edit(self, images: Sequence[Image.Image | str | Path | PreparedImage], source_prompts: Sequence[str],
             target_prompts: Sequence[str], severity: int | Sequence[int], seeds: Sequence[int]) -> list[EditResult]:
        severities = self._checked_batch(images, source_prompts, target_prompts, severity, seeds)
        knobs = [self.severity_knobs(level) for level in severities]
        results = []
        # items given the same image object share its preparation and resize; `images` keeps every input alive,
        # so their ids are not reused during the call
        inputs: dict[int, tuple[PreparedImage, PreparedImage]] = {}
        for i, image in enumerate(images):
            if id(image) not in inputs:
                prepared = self._prepared(image, i)
                inputs[id(image)] = (prepared, at_imagenet_c_side(prepared))
            prepared, at_side = inputs[id(image)]
            metadata = self._metadata(source_prompts[i], target_prompts[i], severities[i], knobs[i], seeds[i],
                                      prepared)
            metadata.update(corruption=self.corruption, corruption_family=FAMILIES[self.corruption],
                            corrupted_at=IMAGENET_C_SIDE, **self.extra)
            results.append(EditResult(corrupt(at_side.image, self.corruption, severities[i], seeds[i]), metadata))
        return results
