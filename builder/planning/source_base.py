"""What every image source is: `Source` (lists a recipe's images per class and opens them), the `SourceImage`
it yields (with the prompts a source may fix itself, `FixedPrompt`), and the recipe-seeded choices they share
(`selected_wnids`, `derive_seed`). The sources themselves are in `builder.planning.sources` and
`builder.study.source`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from PIL import Image

from imagenet_textcorrupt.classes import get_class, load_classes
from imagenet_textcorrupt.hierarchy import load_hierarchy

from builder.planning.recipes import Recipe, SourceSpec


@dataclass(frozen=True)
class FixedPrompt:
    """A target prompt that the source gives an image (the study's drawn prompts) instead of the hierarchy's."""

    domain: str
    index: int  # its place among the prompts that could have been given: the p<index> of the row id
    template: str
    text: str


@dataclass(frozen=True)
class SourceImage:
    """One clean image of the source: a stable id, its class, and where to read it."""

    source_id: str
    wnid: str
    locator: str  # a path, a sample name, or a row index of a streamed dataset
    # a source that decides the prompts itself (the study's): the source prompt and the edits' prompts; None and
    # () take the recipe's prompt hierarchy
    source_prompt: str | None = None
    prompts: tuple[FixedPrompt, ...] = ()


class Source:
    """Lists images per class and opens them."""

    def __init__(self, spec: SourceSpec):
        self.spec = spec

    def by_class(self) -> dict[str, list[SourceImage]]:
        raise NotImplementedError

    def open(self, image: SourceImage) -> Image.Image:
        return Image.open(image.locator)

    def iter_open(self, images: list[SourceImage]) -> Iterator[tuple[SourceImage, Image.Image | Exception]]:
        """Each image opened, or the error that opening it raised (the caller rejects it)."""
        for image in images:
            try:
                opened = self.open(image)
                opened.load()
                yield image, opened
            except Exception as error:  # any unreadable input becomes a reject with its reason
                yield image, error

    def row_parameters(self, recipe: Recipe, wnid: str) -> dict[str, Any]:
        """What the source records in every row's edit_parameters (the study's source: its settings)."""
        return {}

    def select(self, recipe: Recipe) -> list[SourceImage]:
        """K images per selected class, in class index order; which K is decided by the recipe seed alone."""
        wanted = selected_wnids(recipe)
        listing = self.by_class()
        chosen = []
        for wnid in wanted:
            images = sorted(listing.get(wnid, []), key=lambda im: im.source_id)
            k = recipe.selection.images_per_class
            if len(images) > k:
                rng = random.Random(derive_seed(recipe.seed, "select", wnid))
                images = sorted(rng.sample(images, k), key=lambda im: im.source_id)
            chosen.extend(images)
        return chosen


def selected_wnids(recipe: Recipe) -> list[str]:
    hierarchy = load_hierarchy()
    classes = recipe.selection.classes
    wnids = [c.wnid for c in load_classes()] if classes == "all" else [get_class(w).wnid for w in classes]
    if recipe.selection.groups:
        groups = {hierarchy.group(g).name for g in recipe.selection.groups}
        wnids = [w for w in wnids if hierarchy.group_of(w) in groups]
    return sorted(set(wnids), key=lambda w: get_class(w).index)


def derive_seed(seed: int, *parts: str) -> int:
    """A 63-bit seed from the recipe seed and some names (an item id, a class): stable across runs and machines."""
    digest = hashlib.sha256("\0".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
