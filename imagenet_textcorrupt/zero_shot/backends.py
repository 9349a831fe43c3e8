"""Image-text models behind one interface (embed images, embed texts, the learned logit scale), loaded from a spec:
`clip:ID` (transformers: a Hub id, or a folder saved with save_pretrained holding the model, its tokenizer and its
image processor) and, when open_clip is installed, `open_clip:ARCH/PRETRAINED`, `open_clip:hf-hub:ORG/NAME` or
`open_clip:local-dir:PATH`.

transformers weights load as safetensors only; open_clip takes a checkpoint's .safetensors file when there is one
and otherwise reads it with torch.load(weights_only=True), which refuses anything but tensors. No remote code runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from imagenet_textcorrupt.classifier import (ZERO_SHOT_PREFIXES, ZERO_SHOT_TRANSFORMERS_TYPES, ModelLoadError,
                                             refuse_if_gated)
from imagenet_textcorrupt.errors import closest
from imagenet_textcorrupt.hub import cached_commit
from imagenet_textcorrupt.preprocessing import processor_settings, processor_transform

CLIP_PREFIX, OPEN_CLIP_PREFIX = ZERO_SHOT_PREFIXES
OPEN_CLIP_SCHEMAS = ("hf-hub:", "local-dir:")
IMAGE_TOWER_NAMES = ("vision", "visual")  # the image side's submodules: transformers' vision_model and
# visual_projection, open_clip's visual
PADDED_TO_MAX_LENGTH = ("siglip",)  # trained on texts padded to the full length, so they must be embedded so
# a pretrained tag's preprocessing, as open_clip's pretrained configs name it -> create_model_and_transforms' names
OPEN_CLIP_PREPROCESSING = (("mean", "image_mean"), ("std", "image_std"), ("interpolation", "image_interpolation"),
                           ("resize_mode", "image_resize_mode"))


def features(output: Any) -> torch.Tensor:
    """The embedding tensor of a get_*_features call: transformers 5 returns a model output whose pooler_output is
    the projected embedding; earlier versions and open_clip return the tensor itself."""
    if isinstance(output, torch.Tensor):
        return output
    for name in ("pooler_output", "text_embeds", "image_embeds"):
        value = getattr(output, name, None)
        if isinstance(value, torch.Tensor):
            return value
    raise TypeError(f"unexpected image-text features output {type(output).__name__}")


class ImageTextModel(torch.nn.Module):
    """One image-text model: `encode_images(pixels)` and `encode_texts(texts)` give unnormalised embeddings in the
    shared space; `tokenize(texts)` the token ids; `logit_scale()` the learned temperature's inverse."""

    library = ""

    def __init__(self, model: Any, tokenizer: Any):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def image_parameters(self) -> int:
        """Parameters an image passes through (the image tower and its projection; the text tower runs once per
        model, not per image): what a zero-shot model costs per image, beside the total it reports."""
        return sum(p.numel() for name, child in self.model.named_children() if name.startswith(IMAGE_TOWER_NAMES)
                   for p in child.parameters())

    def logit_scale(self) -> float:
        scale = getattr(self.model, "logit_scale", None)
        return float(scale.detach().float().exp()) if scale is not None else 100.0


class TransformersImageText(ImageTextModel):
    library = "transformers"

    def __init__(self, model: Any, tokenizer: Any, max_length: int, padding: bool | str):
        super().__init__(model, tokenizer)
        self.max_length = max_length
        self.padding = padding

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        tokens = self.tokenizer(texts, padding=self.padding, truncation=True, max_length=self.max_length,
                                return_tensors="pt")
        return {k: tokens[k] for k in ("input_ids", "attention_mask") if k in tokens}

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        tokens = {k: v.to(self.device) for k, v in self.tokenize(texts).items()}
        return features(self.model.get_text_features(**tokens))

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return features(self.model.get_image_features(pixel_values=pixels))


class OpenClipImageText(ImageTextModel):
    library = "open_clip"

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return {"input_ids": self.tokenizer(texts)}

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenize(texts)["input_ids"].to(self.device))

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)


@dataclass
class LoadedImageText:
    model: ImageTextModel
    transform: Any
    preprocessing: dict[str, Any]
    name: str
    revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_image_text(spec: str, pretrained: bool) -> LoadedImageText:
    """The image-text model a `clip:` or `open_clip:` spec names, on the CPU in float32."""
    if spec.startswith(CLIP_PREFIX):
        name = spec[len(CLIP_PREFIX):]
        if not name:
            raise ModelLoadError("--model clip:ID needs a transformers model id or folder after 'clip:'")
        return _load_transformers(spec, name, pretrained)
    return _load_open_clip(spec, spec[len(OPEN_CLIP_PREFIX):], pretrained)


def _load_transformers(spec: str, name: str, pretrained: bool) -> LoadedImageText:
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=False)
        if config.model_type not in ZERO_SHOT_TRANSFORMERS_TYPES:
            image_text = hasattr(config, "text_config") and hasattr(config, "vision_config")
            what = "an image-text model clip: does not handle" if image_text else "not an image-text model"
            raise ModelLoadError(f"{spec}: a {config.model_type} model, {what}; clip: scores transformers models of "
                                 f"type {', '.join(ZERO_SHOT_TRANSFORMERS_TYPES)}, open_clip: open_clip's models")
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=False)
        processor = AutoImageProcessor.from_pretrained(name, trust_remote_code=False)
        if pretrained:
            model = AutoModel.from_pretrained(name, use_safetensors=True, trust_remote_code=False)
        else:
            model = AutoModel.from_config(config)
    except (OSError, ValueError) as error:
        refuse_if_gated(error, name)
        raise ModelLoadError(f"transformers cannot load {name!r}: {error}") from None
    if not (hasattr(model, "get_text_features") and hasattr(model, "get_image_features")):
        raise ModelLoadError(f"{spec}: {type(model).__name__} cannot embed both texts and images")
    max_length = min(int(getattr(tokenizer, "model_max_length", 77) or 77),
                     int(config.text_config.max_position_embeddings))
    padding = "max_length" if config.model_type in PADDED_TO_MAX_LENGTH else True
    return LoadedImageText(TransformersImageText(model, tokenizer, max_length, padding),
                           processor_transform(processor), processor_settings(processor), config.model_type,
                           revision=getattr(config, "_commit_hash", None) if pretrained else None)


def _open_clip_name(rest: str, pretrained: bool) -> tuple[str, str | None]:
    """(model name, pretrained tag or file) of what follows `open_clip:`."""
    if rest.startswith(OPEN_CLIP_SCHEMAS):
        return rest, None
    arch, _, tag = rest.partition("/")
    if not arch:
        raise ModelLoadError("--model open_clip:ARCH/PRETRAINED needs an architecture (open_clip.list_models())")
    if pretrained and not tag:
        raise ModelLoadError(f"--model open_clip:{arch} names no weights: use open_clip:{arch}/PRETRAINED (a tag of "
                             f"open_clip.list_pretrained_tags_by_model({arch!r}) or a local checkpoint file), "
                             f"open_clip:hf-hub:ORG/NAME, or --no-pretrained for random weights")
    return arch, tag or None


def _load_open_clip(spec: str, rest: str, pretrained: bool) -> LoadedImageText:
    try:
        import open_clip
    except ImportError:
        raise ModelLoadError(f"{spec}: open_clip is not installed (pip install open_clip_torch)") from None
    name, tag = _open_clip_name(rest, pretrained)
    schema = next((s for s in OPEN_CLIP_SCHEMAS if name.startswith(s)), None)
    if schema is None and name not in open_clip.list_models():
        suggestions = closest(name, open_clip.list_models())
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        raise ModelLoadError(f"open_clip has no architecture {name!r}{hint}")
    # require_pretrained: open_clip only logs a warning when weights are missing, and would score random ones;
    # pretrained_text=False: no separate text-tower download for a model that gets random or --checkpoint weights
    options: dict[str, Any] = {"require_pretrained": pretrained, "pretrained_text": False}
    tag_config = open_clip.get_pretrained_cfg(name, tag) if schema is None and tag else {}
    # the tag's preprocessing, also when its weights come from --checkpoint instead of the tag
    options.update({ours: tag_config[theirs] for theirs, ours in OPEN_CLIP_PREPROCESSING if tag_config.get(theirs)})
    try:
        if schema is None:
            model, _, transform = open_clip.create_model_and_transforms(name, pretrained=tag if pretrained else None,
                                                                        **options)
        else:
            model, _, transform = open_clip.create_model_and_transforms(name, load_weights=pretrained, **options)
        tokenizer = open_clip.get_tokenizer(name)
    except Exception as error:  # noqa: BLE001 - missing files, unknown tags and unreachable weights raise many kinds
        if schema == "hf-hub:":
            refuse_if_gated(error, name[len(schema):])
        raise ModelLoadError(f"open_clip cannot load {rest!r}: {error}") from None
    visual_cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})
    preprocessing = {"library": "open_clip", **{k: list(v) if isinstance(v, tuple) else v
                                               for k, v in visual_cfg.items()},
                     "transforms": [repr(t) for t in getattr(transform, "transforms", [transform])]}
    hub_id = name[len("hf-hub:"):] if schema == "hf-hub:" else (tag_config.get("hf_hub") or "").strip("/") or None
    revision = cached_commit(hub_id) if hub_id and pretrained else None
    return LoadedImageText(OpenClipImageText(model, tokenizer), transform, preprocessing, name, revision=revision,
                           extra={"pretrained_tag": tag if pretrained else None,
                                  "hub_id": hub_id if pretrained else None})
