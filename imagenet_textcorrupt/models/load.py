"""`load_classifier`: the classifier a model spec names, from the library the spec's prefix (or a local folder's
config.json) points to, with a local safetensors checkpoint loaded into it when one is given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.checksums import sha256_file
from imagenet_textcorrupt.classifier import REVISION_PREFIXES, ZERO_SHOT_PREFIXES, Classifier, ModelLoadError
from imagenet_textcorrupt.models.from_timm import load_timm
from imagenet_textcorrupt.models.from_torchvision import load_torchvision
from imagenet_textcorrupt.models.from_transformers import load_transformers


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
            classifier = load_timm(spec, name, use_hub_weights)
        elif source == "torchvision":
            classifier = load_torchvision(spec, name, use_hub_weights)
        else:
            classifier = load_transformers(spec, name, use_hub_weights,
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
