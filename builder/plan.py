"""The plan of a release: the deterministic expansion of a recipe into work items, grouped into build shards.

Per selected source image: one item for the original, then, for every domain of the recipe that applies to the
class, its resolved prompts (all, or n sampled with a seed derived from the recipe seed) times every severity.
Each item has a stable id and a seed derived from the recipe seed and the id. Shards hold whole source images
(an image's edits share one inversion), up to the recipe's shard size in rows.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from imagenet_textcorrupt.errors import DataFileError
from imagenet_textcorrupt.hierarchy import load_hierarchy
from imagenet_textcorrupt.prompts import PromptHierarchy, load_prompts
from imagenet_textcorrupt.schema import ORIGINAL_DOMAIN, edit_id

from builder.recipes import Recipe
from builder.sources import SourceImage, derive_seed, selected_wnids


@dataclass(frozen=True)
class WorkItem:
    id: str
    source_id: str
    wnid: str
    group: str
    domain: str  # "original" for the clean image
    template: str
    prompt: str
    source_prompt: str
    severity: int  # 0 for the original
    seed: int


@dataclass(frozen=True)
class Shard:
    index: int
    images: tuple[SourceImage, ...]
    items: tuple[WorkItem, ...]


def prompt_hierarchy(recipe: Recipe) -> PromptHierarchy:
    """The recipe's prompt hierarchy, refusing a version other than the one the recipe names."""
    hierarchy = load_prompts(recipe.prompts.file) if recipe.prompts.file else load_prompts()
    if hierarchy.version != recipe.prompts.version:
        raise DataFileError(recipe.file, "prompts.version", f"the recipe asks for {recipe.prompts.version} but "
                            f"{hierarchy.source} is version {hierarchy.version}")
    return hierarchy


def expand_image(recipe: Recipe, prompts: PromptHierarchy, image: SourceImage) -> list[WorkItem]:
    """The work items of one source image: its original, then its edits."""
    resolved = prompts.for_class(image.wnid)
    group = load_hierarchy().group_of(image.wnid)
    items = [WorkItem(image.source_id, image.source_id, image.wnid, group, ORIGINAL_DOMAIN, "", "",
                      resolved.source_prompt, 0, derive_seed(recipe.seed, image.source_id))]
    for domain in recipe.prompts.domains:
        candidates = list(enumerate(resolved.domains.get(domain, ())))
        n = recipe.prompts.templates_per_domain
        if n != "all" and len(candidates) > int(n):
            rng = random.Random(derive_seed(recipe.seed, "prompts", image.source_id, domain))
            candidates = sorted(rng.sample(candidates, int(n)))
        for index, prompt in candidates:
            for severity in recipe.severities:
                item_id = edit_id(image.source_id, domain, index, severity)
                items.append(WorkItem(item_id, image.source_id, image.wnid, group, domain, prompt.template,
                                      prompt.text, resolved.source_prompt, severity,
                                      derive_seed(recipe.seed, item_id)))
    return items


def assumed_images(recipe: Recipe) -> list[SourceImage]:
    """Stand-ins for K images of every selected class: a plan's counts when the source is not at hand."""
    k = recipe.selection.images_per_class
    return [SourceImage(f"{wnid}-assumed-{i:03d}", wnid, "") for wnid in selected_wnids(recipe) for i in range(k)]


def make_shards(recipe: Recipe, images: Iterable[SourceImage]) -> list[Shard]:
    """Whole source images per shard, up to `output.shard_size` rows (at least one image per shard)."""
    prompts = prompt_hierarchy(recipe)
    shards: list[Shard] = []
    batch_images: list[SourceImage] = []
    batch_items: list[WorkItem] = []
    for image in images:
        items = expand_image(recipe, prompts, image)
        if batch_items and len(batch_items) + len(items) > recipe.output.shard_size:
            shards.append(Shard(len(shards), tuple(batch_images), tuple(batch_items)))
            batch_images, batch_items = [], []
        batch_images.append(image)
        batch_items.extend(items)
    if batch_items:
        shards.append(Shard(len(shards), tuple(batch_images), tuple(batch_items)))
    return shards


def unet_evaluations(recipe: Recipe, items: list[WorkItem]) -> int:
    """UNet evaluations (one per image in a batch, per step) the recipe's editor needs for these items."""
    editor, steps = recipe.editor.name, recipe.editor.steps
    edits = [i for i in items if i.severity > 0]
    images = {i.source_id for i in items}
    batches = {(i.source_id, i.severity) for i in edits}  # each holds the source branch and its edits
    if editor in ("p2p-nulltext", "p2p-direct"):
        inversion = steps
        if editor == "p2p-nulltext":
            inner = int(recipe.editor.params.get("inner_steps", 10))
            inversion += steps * (1 + inner + 2)  # at most: cond, inner uncond steps, the final guided step
        return len(images) * inversion + 2 * steps * (len(batches) + len(edits))
    if editor == "instruct-pix2pix":
        return 3 * steps * len(edits)
    if editor == "sdedit":
        prompts = prompt_hierarchy(recipe)
        return sum(int(2 * steps * prompts.severity_parameters("sdedit", i.severity)["strength"]) for i in edits)
    return 0


def summarize(recipe: Recipe, shards: list[Shard], throughput: float | None = None) -> dict[str, Any]:
    items = [item for shard in shards for item in shard.items]
    edits = [i for i in items if i.severity > 0]
    evaluations = unet_evaluations(recipe, items)
    summary: dict[str, Any] = {
        "recipe": recipe.name, "version": recipe.version, "images": len({i.source_id for i in items}),
        "rows": len(items), "edits": len(edits), "shards": len(shards),
        "by_group": dict(sorted(Counter(i.group for i in items).items())),
        "by_domain": dict(Counter(i.domain for i in items)),
        "by_severity": dict(sorted(Counter(i.severity for i in items).items())),
        "unet_evaluations": evaluations,
    }
    if throughput:
        summary["gpu_hours"] = evaluations / throughput / 3600
    return summary
