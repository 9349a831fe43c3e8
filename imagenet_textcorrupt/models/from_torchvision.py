"""Classifiers of torchvision: `torchvision:ARCH:WEIGHTS`, a classification builder and one of its weights enum's
members, scored with that member's own `transforms()` as the source study's evaluate.py did; with random weights or
a checkpoint, the architecture those weights were made for.
"""

from __future__ import annotations

from typing import Any

from imagenet_textcorrupt.classes import NUM_CLASSES
from imagenet_textcorrupt.classifier import Classifier, ModelLoadError, architecture_family
from imagenet_textcorrupt.errors import closest


# architecture arguments torchvision's builders derive from a weights enum member (besides num_classes): what the
# architecture is built with when its weights come from a --checkpoint or are random, so that it is the network
# those weights were made for
def _torchvision_arguments(arch: str, weights: Any) -> dict[str, Any]:
    if arch.startswith("vit_"):
        return {"image_size": weights.meta["min_size"][0]}
    if arch.startswith("maxvit"):
        return {"input_size": weights.meta["min_size"]}
    if arch in ("googlenet", "inception_v3"):  # the pretrained ones take ImageNet-normalised inputs back to theirs
        return {"transform_input": True, "init_weights": False}
    return {}


def torchvision_weights(spec: str, name: str) -> tuple[str, Any]:
    """(architecture, weights enum member) of `ARCH:WEIGHTS`; an unknown architecture or weight name is refused
    naming the closest ones."""
    import torchvision.models

    arch, _, weight_name = name.partition(":")
    architectures = torchvision.models.list_models(module=torchvision.models)  # the ImageNet classifiers
    if arch not in architectures:
        suggestions = closest(arch, architectures)
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        raise ModelLoadError(f"model {spec!r}: torchvision has no ImageNet classifier {arch!r}{hint}")
    enum = torchvision.models.get_model_weights(arch)
    members = [m for m in enum.__members__ if m != "DEFAULT"]
    if not weight_name:
        raise ModelLoadError(f"model {spec!r}: name the weights, torchvision:{arch}:WEIGHTS, one of "
                             f"{', '.join(members)} ({enum.__name__})")
    if weight_name not in enum.__members__:
        suggestions = closest(weight_name, members)
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else f"; it has {', '.join(members)}"
        raise ModelLoadError(f"model {spec!r}: {enum.__name__} has no weights {weight_name!r}{hint}")
    weights = enum[weight_name]
    categories = weights.meta.get("categories") or ()
    if len(categories) != NUM_CLASSES:
        raise ModelLoadError(f"{spec}: {weights} has {len(categories) or 'no'} outputs (no classifier head); "
                             f"ImageNet-TC scores ImageNet-1k classifiers with {NUM_CLASSES} outputs")
    return arch, weights


def torchvision_preprocessing(weights: Any) -> dict[str, Any]:
    """What a results file records of a weights member's transforms(): resize, crop, mean, std, interpolation."""
    transform = weights.transforms()
    return {"library": "torchvision", "weights": str(weights), "resize_size": list(transform.resize_size),
            "crop_size": list(transform.crop_size), "mean": list(transform.mean), "std": list(transform.std),
            "interpolation": transform.interpolation.value, "antialias": transform.antialias}


def load_torchvision(spec: str, name: str, pretrained: bool) -> Classifier:
    """torchvision:ARCH:WEIGHTS. Pretrained: the builder downloads the member's file (torchvision checks its hash);
    otherwise (random weights, or a --checkpoint load_classifier puts in next) the architecture those weights were
    made for. Either way the member's own transforms() preprocess the images, as the source study's evaluate.py."""
    import torchvision
    import torchvision.models

    arch, weights = torchvision_weights(spec, name)
    if pretrained:
        try:
            module = torchvision.models.get_model(arch, weights=weights)
        except Exception as error:  # noqa: BLE001 - unreachable, refused or corrupt downloads surface as many kinds
            raise ModelLoadError(f"torchvision cannot load the weights {weights} ({weights.url}): "
                                 f"{type(error).__name__}: {error}; check the network, or pass --checkpoint "
                                 f"FILE.safetensors (a state dict of {arch}) or --no-pretrained for random weights"
                                 ) from None
    else:
        module = torchvision.models.get_model(arch, weights=None, **_torchvision_arguments(arch, weights))
    return Classifier(module, weights.transforms(), spec, "torchvision", arch, architecture_family(arch), pretrained,
                      torchvision_preprocessing(weights),
                      extra={"weights": str(weights), "weights_url": weights.url if pretrained else None,
                             "torchvision": torchvision.__version__})
