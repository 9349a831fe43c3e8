"""An image-text model as a 1000-way ImageNet classifier, CLIP's zero-shot recipe (Radford et al. 2021, and the
authors' ImageNet notebook): each class's weight is the mean of the L2-normalised text embeddings of every template
filled with the class's name, normalised again; an image's logits are the model's learned logit scale times the
cosine similarity of its embedding with each class's.

The class embeddings (1000 classes x 80 templates = 80,000 texts through the text tower) are cached on disk under
a key made of the model's weights, its tokenizer (the token ids of every name in one template and of one name in
every template), the names and templates, the dtype, the device type and the versions of the libraries that run
it, so a second run does not recompute them and a changed model never meets a stale cache. Models with random
weights are not cached: each such run has weights of its own.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from imagenet_textcorrupt.atomic import atomic_write_bytes
from imagenet_textcorrupt.cache import CACHE_ENV, cache_root
from imagenet_textcorrupt.classes import NUM_CLASSES
from imagenet_textcorrupt.zero_shot.backends import ImageTextModel
from imagenet_textcorrupt.zero_shot.prompts import ZeroShotPrompts

CACHE_FORMAT = 1
TEXTS_PER_BATCH = 1024
EMBEDDINGS_TENSOR = "class_embeddings"


def weights_digest(module: torch.nn.Module) -> str:
    """sha256 over every tensor of a module's state dict: names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.detach().reshape(-1).contiguous().cpu().view(torch.uint8).numpy())
    return digest.hexdigest()


KEY_LIBRARIES = {"transformers": ("torch", "transformers", "tokenizers"), "open_clip": ("torch", "open_clip_torch")}


def embedding_key(image_text: ImageTextModel, prompts: ZeroShotPrompts) -> str:
    """What the class embeddings depend on, hashed: weights; tokenization of every class name (in the first
    template) and of every template (with the first name); names and templates; dtype; device type; the versions
    of the libraries that run the model; this code's format."""
    from imagenet_textcorrupt.provenance import library_versions

    first = prompts.templates[0]
    probe = [first.replace("{}", name) for name in prompts.class_names] + prompts.texts(0)
    tokens = hashlib.sha256()
    for start in range(0, len(probe), TEXTS_PER_BATCH):
        for name, ids in sorted(image_text.tokenize(probe[start:start + TEXTS_PER_BATCH]).items()):
            tokens.update(name.encode() + ids.to(torch.int64).numpy().tobytes())
    parameter = next(image_text.model.parameters())
    parts = {"format": CACHE_FORMAT, "library": image_text.library, "weights": weights_digest(image_text.model),
             "tokens": tokens.hexdigest(), "prompts": prompts.sha256, "dtype": str(parameter.dtype),
             "device": parameter.device.type, "versions": library_versions(KEY_LIBRARIES[image_text.library])}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


@torch.no_grad()  # not inference_mode: the embeddings are used in forward passes outside it too
def compute_class_embeddings(image_text: ImageTextModel, prompts: ZeroShotPrompts, progress: bool = True
                             ) -> torch.Tensor:
    """(1000, D) float32, one unit vector per class: the renormalised mean of its templates' unit embeddings."""
    from tqdm import tqdm

    per_class = len(prompts.templates)
    classes_per_batch = max(1, TEXTS_PER_BATCH // per_class)
    rows = []
    with tqdm(total=NUM_CLASSES, unit="class", desc="class text embeddings", disable=not progress,
              dynamic_ncols=True) as bar:
        for start in range(0, NUM_CLASSES, classes_per_batch):
            chunk = range(start, min(NUM_CLASSES, start + classes_per_batch))
            texts = [text for index in chunk for text in prompts.texts(index)]
            embedded = torch.nn.functional.normalize(image_text.encode_texts(texts).float(), dim=-1)
            mean = embedded.view(len(chunk), per_class, -1).mean(dim=1)
            rows.append(torch.nn.functional.normalize(mean, dim=-1))
            bar.update(len(chunk))
    return torch.cat(rows)


def _read_cache(path: Path) -> torch.Tensor | None:
    if not path.is_file():
        return None
    from safetensors.torch import load_file

    try:
        tensor = load_file(str(path))[EMBEDDINGS_TENSOR]
    except Exception as error:  # noqa: BLE001 - a truncated or foreign file: recompute rather than fail
        warnings.warn(f"{path}: unreadable cached class embeddings ({error}); computing them again", stacklevel=2)
        return None
    if tensor.ndim != 2 or tensor.shape[0] != NUM_CLASSES or not torch.isfinite(tensor).all():
        warnings.warn(f"{path}: cached class embeddings of shape {tuple(tensor.shape)} are not 1000 finite "
                      f"vectors; computing them again", stacklevel=2)
        return None
    return tensor


class ZeroShotClassifier(torch.nn.Module):
    """Logits over the 1000 classes: logit_scale * cos(image embedding, class embedding). `prepare()` loads or
    computes the class embeddings on the model's device (after it has moved there; they move with it after);
    `record` is the results' account of them (key, cache hit, seconds, logit scale). `use_cache` is off for random
    weights."""

    class_embeddings: torch.Tensor | None

    def __init__(self, image_text: ImageTextModel, prompts: ZeroShotPrompts, record: dict[str, Any],
                 use_cache: bool = True):
        super().__init__()
        self.image_text = image_text
        self.prompts = prompts
        self.record = record
        self.use_cache = use_cache
        self.register_buffer("class_embeddings", None, persistent=False)
        self.scale = 100.0

    def prepare(self, progress: bool = True) -> None:
        start = time.perf_counter()
        key = embedding_key(self.image_text, self.prompts) if self.use_cache else None
        path = cache_root() / "zero-shot" / f"{key}.safetensors" if key else None
        embeddings = _read_cache(path) if path else None
        cached = embeddings is not None
        if embeddings is None:
            embeddings = compute_class_embeddings(self.image_text, self.prompts, progress)
            if path:
                self._write_cache(path, embeddings)
        self.class_embeddings = embeddings.to(self.image_text.device, torch.float32)
        self.scale = self.image_text.logit_scale()
        self.record.update(logit_scale=round(self.scale, 6),
                           text_embeddings={"key": key, "cached": cached,
                                            "seconds": round(time.perf_counter() - start, 3)})

    def _write_cache(self, path: Path, embeddings: torch.Tensor) -> None:
        from safetensors.torch import save

        data = save({EMBEDDINGS_TENSOR: embeddings.cpu().contiguous()},
                    metadata={"format": str(CACHE_FORMAT), "prompts": self.prompts.sha256})
        try:
            atomic_write_bytes(path, data)
        except OSError as error:  # a read-only or full cache costs the next run the text pass, not this run
            warnings.warn(f"cannot cache the class embeddings in {path.parent} ({error.strerror or error}); set "
                          f"{CACHE_ENV} to a writable folder to keep them", stacklevel=3)

    @torch.no_grad()
    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.class_embeddings is None:
            self.prepare(progress=False)
        images = torch.nn.functional.normalize(self.image_text.encode_images(pixels).float(), dim=-1)
        return self.scale * images @ self.class_embeddings.float().T
