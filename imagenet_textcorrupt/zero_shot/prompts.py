"""The class names and prompt templates a zero-shot classifier is built from: by default CLIP's curated ImageNet
class names and its 80-template ensemble, as the authors published them (data/clip_imagenet_prompts.json).

The curated names are the authors' as published, two pairs included that share a name (657 and 744 are both
"missile", 836 and 837 both "sunglasses"): those classes get the same text embedding, as in the paper's figures.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from imagenet_textcorrupt.classes import NUM_CLASSES
from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.resources import read_text

CLIP_PROMPTS_FILE = "clip_imagenet_prompts.json"
PLACEHOLDER = "{}"


@dataclass(frozen=True)
class ZeroShotPrompts:
    """Class names (index order) and templates, each with one `{}` where a class name goes."""

    class_names: tuple[str, ...]
    templates: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        if len(self.class_names) != NUM_CLASSES:
            raise ImageNetTCError(f"zero-shot prompts: {len(self.class_names)} class names, expected {NUM_CLASSES}")
        if not self.templates:
            raise ImageNetTCError("zero-shot prompts: no templates")
        bad = [t for t in self.templates if t.count(PLACEHOLDER) != 1]
        if bad:
            raise ImageNetTCError(f"zero-shot prompts: template {bad[0]!r} needs exactly one {PLACEHOLDER} "
                                  f"where the class name goes")

    def texts(self, class_index: int) -> list[str]:
        """Every template filled with one class's name."""
        name = self.class_names[class_index]
        return [template.replace(PLACEHOLDER, name) for template in self.templates]

    @property
    def sha256(self) -> str:
        """A digest of the names and templates (what the text embeddings depend on besides the model)."""
        payload = json.dumps([self.class_names, self.templates], ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(payload).hexdigest()

    def describe(self) -> dict[str, object]:
        """What a results file records of them."""
        return {"source": self.source, "sha256": self.sha256, "templates": list(self.templates),
                "class_names": list(self.class_names)}


@functools.cache
def clip_imagenet_prompts() -> ZeroShotPrompts:
    """CLIP's ImageNet class names and 80 templates (Radford et al. 2021)."""
    data = json.loads(read_text(CLIP_PROMPTS_FILE))
    return ZeroShotPrompts(tuple(data["class_names"]), tuple(data["templates"]), data["source"])
