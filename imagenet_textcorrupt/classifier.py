"""What a loaded classifier is, whichever way it was loaded (`models` for ImageNet classifiers, `zero_shot` for
image-text models): the `Classifier` that scores batches and describes itself in a results file, the error of a
model that cannot be loaded (`ModelLoadError`, also for a gated repository, `refuse_if_gated`), the prefixes of
the model specs, and the architecture families the reports group models by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imagenet_textcorrupt.errors import ImageNetTCError

# Architecture families, matched on the model's name or transformers model_type (first match wins): the study's
# CNN-versus-transformer question. Hybrids mix convolutions and attention in the trunk.
FAMILY_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hybrid", ("coat", "maxvit", "maxxvit", "convit", "mobilevit", "efficientformer", "fastvit", "levit",
                "nextvit", "edgenext", "cvt", "botnet", "halonet", "lambda", "vitamin", "efficientvit", "gcvit",
                "caformer", "repvit")),
    ("cnn", ("convmixer", "convnext")),  # before "mixer" and "transformer" below
    ("transformer", ("vit", "deit", "swin", "beit", "eva", "cait", "xcit", "pvt", "twins", "crossvit", "tnt",
                     "mvit", "volo", "dino", "clip", "siglip", "hiera", "transformer")),
    ("mlp", ("mixer", "resmlp", "gmlp", "mlp")),
    ("cnn", ("resnet", "resnext", "convnext", "efficientnet", "mobilenet", "regnet", "densenet", "vgg", "inception",
             "nfnet", "ghostnet", "mnasnet", "dla", "dpn", "hrnet", "rexnet", "senet", "seresnet", "res2net",
             "resnest", "cspnet", "darknet", "xception", "alexnet", "squeezenet", "shufflenet", "repvgg", "byobnet",
             "tinynet", "fbnet", "lcnet", "mambaout", "convmixer", "van", "poolformer", "inception_next",
             "googlenet")),
)


ZERO_SHOT_PREFIXES = ("clip:", "open_clip:")  # image-text models scored zero-shot (zero_shot/)
REVISION_PREFIXES = ("hf:", "timm:hf-hub:")  # specs whose Hub weights load at a given revision
# transformers model types `clip:` scores: their get_image_features takes pixel_values alone and their logits are
# a learned logit_scale times cosine similarity (SigLIP's logit_bias shifts every class alike)
ZERO_SHOT_TRANSFORMERS_TYPES = ("clip", "siglip")


class ModelLoadError(ImageNetTCError):
    """The model spec, its files or its output layer cannot be used."""


def architecture_family(name: str) -> str:
    """"cnn", "transformer", "hybrid", "mlp" or "other", from a model name or transformers model_type."""
    lowered = name.lower().rsplit("/", 1)[-1]
    for family, keywords in FAMILY_KEYWORDS:
        if any(k in lowered for k in keywords):
            return family
    return "other"


@dataclass
class Classifier:
    """A loaded classifier: call `forward(batch)` for (n, 1000) logits; `transform(PIL image)` is its own
    preprocessing, applied identically to originals and edits."""

    module: Any
    transform: Callable[[Any], Any]
    spec: str
    source: str  # "timm", "transformers", "torchvision", or zero-shot's
    name: str
    family: str
    pretrained: bool
    preprocessing: dict[str, Any]
    revision: str | None = None
    checkpoint: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def forward(self, batch: Any) -> Any:
        out = self.module(batch)
        return out.logits if hasattr(out, "logits") else out

    def prepare(self, progress: bool = True) -> None:
        """Work that needs the model on its device and dtype, done once before the first batch (a zero-shot
        model's class embeddings); nothing for a plain classifier."""
        prepare = getattr(self.module, "prepare", None)
        if prepare is not None:
            prepare(progress)

    @property
    def parameters(self) -> int:
        return int(sum(p.numel() for p in self.module.parameters()))

    def describe(self) -> dict[str, Any]:
        """The model's entry in a results file."""
        return {"id": self.spec, "source": self.source, "name": self.name, "revision": self.revision,
                "pretrained": self.pretrained, "checkpoint": self.checkpoint, "family": self.family,
                "parameters": self.parameters, **self.extra}


def refuse_if_gated(error: BaseException, repo_id: str) -> None:
    """A gated model repo refused us: say how to get in (log in, or accept its terms)."""
    from imagenet_textcorrupt.hub import gated_message, gated_status

    status = gated_status(error)
    if status is not None:
        raise ModelLoadError(f"--model {gated_message(repo_id, status, 'model')}") from None

