"""Zero-shot image-text models (CLIP, SigLIP, open_clip models) scored as 1000-way ImageNet classifiers.

`imagenet-tc evaluate --model clip:ID` (or `open_clip:ARCH/PRETRAINED`) builds the classifier from CLIP's curated
class names and its 80 ImageNet templates (prompts.py), embeds images with the model's own preprocessing
(backends.py) and scores them against the cached class embeddings (head.py). Results record the names and
templates, and report the family "zero-shot".
"""

from __future__ import annotations

from imagenet_textcorrupt.classifier import Classifier
from imagenet_textcorrupt.zero_shot.backends import load_image_text
from imagenet_textcorrupt.zero_shot.head import ZeroShotClassifier, compute_class_embeddings
from imagenet_textcorrupt.zero_shot.prompts import ZeroShotPrompts, clip_imagenet_prompts

ZERO_SHOT_FAMILY = "zero-shot"

__all__ = ["ZERO_SHOT_FAMILY", "ZeroShotClassifier", "ZeroShotPrompts", "clip_imagenet_prompts",
           "compute_class_embeddings", "load_zero_shot_classifier"]


def load_zero_shot_classifier(spec: str, pretrained: bool = True, prompts: ZeroShotPrompts | None = None
                              ) -> Classifier:
    """The `Classifier` (classifier.py) of a zero-shot spec, on the CPU in float32; its class embeddings are made by
    `Classifier.prepare()` once it is on its device."""
    prompts = prompts or clip_imagenet_prompts()
    loaded = load_image_text(spec, pretrained)
    record = {"library": loaded.model.library, **prompts.describe()}
    module = ZeroShotClassifier(loaded.model, prompts, record, use_cache=pretrained)
    return Classifier(module, loaded.transform, spec, loaded.model.library, loaded.name, ZERO_SHOT_FAMILY, pretrained,
                      loaded.preprocessing, revision=loaded.revision,
                      extra={**loaded.extra, "image_parameters": loaded.model.image_parameters(), "zero_shot": record})
