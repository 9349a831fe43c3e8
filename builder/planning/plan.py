"""The plan of a release: the deterministic expansion of a recipe into work items, grouped into build shards.

Per selected source image: one item for the original, then, for every domain of the recipe that applies to the
class, its resolved prompts (all, or n sampled with a seed derived from the recipe seed) times every severity;
or, when the source gave the image its prompts (the study's draws), those.
With an `imagenet_c` section, the image's ImageNet-C rows follow: every corruption at every
severity asked for (domain = the corruption). Each item has a stable id and a seed derived from the recipe seed and
the id. Shards hold whole source images
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
from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS, ORIGINAL_DOMAIN, edit_id

from builder.planning.recipes import Recipe
from builder.planning.sources import SourceImage, derive_seed, selected_wnids


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
    """The work items of one source image: its original, then its edits (with the prompts the source gave the
    image, if it did: the study's draws; else the hierarchy's)."""
    resolved = prompts.for_class(image.wnid)
    group = load_hierarchy().group_of(image.wnid)
    source_prompt = resolved.source_prompt if image.source_prompt is None else image.source_prompt
    items = [WorkItem(image.source_id, image.source_id, image.wnid, group, ORIGINAL_DOMAIN, "", "",
                      source_prompt, 0, derive_seed(recipe.seed, image.source_id))]
    for domain in recipe.prompts.domains:
        if image.source_prompt is not None:
            chosen = [(p.index, p.template, p.text) for p in image.prompts if p.domain == domain]
        else:
            candidates = list(enumerate(resolved.domains.get(domain, ())))
            n = recipe.prompts.templates_per_domain
            if n != "all" and len(candidates) > int(n):
                rng = random.Random(derive_seed(recipe.seed, "prompts", image.source_id, domain))
                candidates = sorted(rng.sample(candidates, int(n)))
            chosen = [(index, prompt.template, prompt.text) for index, prompt in candidates]
        for index, template, text in chosen:
            for severity in recipe.severities:
                item_id = edit_id(image.source_id, domain, index, severity)
                items.append(WorkItem(item_id, image.source_id, image.wnid, group, domain, template, text,
                                      source_prompt, severity, derive_seed(recipe.seed, item_id)))
    if recipe.imagenet_c is not None:  # the prompt is recorded, not used: the corruption's name
        for corruption in recipe.imagenet_c.corruptions:
            for severity in recipe.imagenet_c.severities:
                item_id = edit_id(image.source_id, corruption, 0, severity)
                items.append(WorkItem(item_id, image.source_id, image.wnid, group, corruption, "",
                                      corruption.replace("_", " "), source_prompt, severity,
                                      derive_seed(recipe.seed, item_id)))
    return items


def is_imagenet_c(item: WorkItem) -> bool:
    return item.domain in CORRUPTION_DOMAINS


def assumed_images(recipe: Recipe) -> list[SourceImage]:
    """Stand-ins for K images of every selected class: a plan's counts when the source is not at hand."""
    if recipe.source.type == "study":  # the study's classes, and its prompt draws over stand-in images
        from builder.study.source import StudySource

        return StudySource(recipe.source).assumed(recipe)
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


@dataclass
class UNetWork:
    """UNet work: batch rows run forward (one image at one step), the rows that also ran backward (null-text
    optimisation; a backward pass costs about two forward rows), and the calls (passes) that held them."""

    rows: int = 0
    backward_rows: int = 0
    calls: int = 0

    def add(self, rows: int, calls: int, backward: int = 0) -> None:
        self.rows += rows
        self.calls += calls
        self.backward_rows += backward

    @property
    def forward_equivalent(self) -> int:
        return self.rows + 2 * self.backward_rows


def unet_work(recipe: Recipe, items: list[WorkItem], editor: str | None = None) -> UNetWork:
    """The UNet work the recipe's editor (or `editor`, with the recipe's parameters it knows) runs for these items,
    counted the way the editors run it: one call per source image with all its edits (`Builder`), packed into
    passes of `batch_size` (`editors.sharing`). For null-text every timestep is counted at its full `inner_steps`
    (early stops make it less)."""
    from builder.editors.base import editor_class, severity_knobs
    from builder.editors.sharing import EditSchedule, count_sampling

    spec, steps = recipe.editor, recipe.editor.steps
    cls = editor_class(editor or spec.name)
    params = {k: v for k, v in spec.params.items() if k in cls.known_params}
    prompts = prompt_hierarchy(recipe)
    knobs = {level: severity_knobs(prompts, cls.family, level, params) for level in recipe.severities}
    by_image: dict[str, list[WorkItem]] = {}
    for item in items:
        if item.severity > 0 and not is_imagenet_c(item):
            by_image.setdefault(item.source_id, []).append(item)
    work = UNetWork()
    sampling: dict[tuple[EditSchedule, ...], Any] = {}  # images with the same shape of edits count alike
    for edits in by_image.values():
        if cls.family == "prompt_to_prompt":
            work.add(steps, steps)  # DDIM inversion: the conditional branch of one image
            if getattr(cls, "inversion_method", "") == "null-text":
                inner = int(params.get("inner_steps", cls.known_params["inner_steps"]))
                work.add(steps * (inner + 2), steps * (inner + 2), steps * inner)  # cond, inner steps, final uncond
            order = {prompt: i for i, prompt in enumerate(dict.fromkeys(e.prompt for e in edits))}
            shape = tuple(EditSchedule.from_knobs(0, str(order[e.prompt]), steps, knobs[e.severity]) for e in edits)
            if shape not in sampling:
                sampling[shape] = count_sampling(shape, steps, spec.batch_size, bool(params.get("local_blend_words")))
            work.add(sampling[shape].rows, sampling[shape].calls)
            continue
        for level in sorted({e.severity for e in edits}):  # one pipeline call per severity and chunk
            count = sum(e.severity == level for e in edits)
            chunks = -(-count // spec.batch_size)
            if cls.family == "instruct_pix2pix":  # text, image and unconditional branches
                work.add(3 * steps * count, steps * chunks)
            elif cls.family == "sdedit":
                run = int(steps * knobs[level]["strength"])
                work.add(2 * run * count, run * chunks)
    return work


def prompt_to_prompt_costs(recipe: Recipe, items: list[WorkItem], throughput: float | None = None
                           ) -> dict[str, dict[str, float]]:
    """The recipe's edits as each prompt-to-prompt editor would make them, side by side: UNet rows forward and
    backward (per edit too), forward-equivalents (a backward row costs about two forward rows) and, given a
    throughput, GPU-hours."""
    from builder.editors.base import editor_class, list_editors

    edits = max(1, sum(1 for i in items if i.severity > 0 and not is_imagenet_c(i)))
    costs = {}
    for name in list_editors():
        if editor_class(name).family != "prompt_to_prompt":
            continue
        work = unet_work(recipe, items, name)
        costs[name] = {"unet_rows": work.rows, "unet_backward_rows": work.backward_rows,
                       "unet_rows_per_edit": work.rows / edits, "backward_rows_per_edit": work.backward_rows / edits,
                       "forward_equivalents": work.forward_equivalent}
        if throughput:
            costs[name]["gpu_hours"] = work.forward_equivalent / throughput / 3600
    return costs


def costs_text(costs: dict[str, dict[str, float]]) -> str:
    """`prompt_to_prompt_costs` as a table for the terminal."""
    hours = all("gpu_hours" in c for c in costs.values())
    lines = ["prompt-to-prompt editors on this recipe (null-text at its full inner steps; p2p-direct is "
             "p2p-directinv's earlier name):",
             f"  {'editor':<15} {'UNet rows':>14} {'per edit':>9} {'backward':>12} {'per edit':>9} "
             f"{'fwd-equiv.':>14}" + (f" {'GPU-hours':>10}" if hours else "")]
    for name, c in costs.items():
        lines.append(f"  {name:<15} {c['unet_rows']:>14,} {c['unet_rows_per_edit']:>9.1f} "
                     f"{c['unet_backward_rows']:>12,} {c['backward_rows_per_edit']:>9.1f} "
                     f"{c['forward_equivalents']:>14,}" + (f" {c['gpu_hours']:>10.2f}" if hours else ""))
    return "\n".join(lines)


def summarize(recipe: Recipe, shards: list[Shard], throughput: float | None = None) -> dict[str, Any]:
    from builder.editors.base import editor_family

    items = [item for shard in shards for item in shard.items]
    edits = [i for i in items if i.severity > 0 and not is_imagenet_c(i)]
    corrupted = [i for i in items if is_imagenet_c(i)]
    work = unet_work(recipe, items)
    summary: dict[str, Any] = {
        "recipe": recipe.name, "version": recipe.version, "images": len({i.source_id for i in items}),
        "rows": len(items), "edits": len(edits), "imagenet_c_rows": len(corrupted), "shards": len(shards),
        "by_group": dict(sorted(Counter(i.group for i in items).items())),
        "by_domain": dict(Counter(i.domain for i in items)),
        "by_severity": dict(sorted(Counter(i.severity for i in items).items())),
        "unet_evaluations": work.rows,  # UNet batch rows run forward
        "unet_backward_rows": work.backward_rows,
        "unet_calls": work.calls,
        "unet_rows_per_edit": work.rows / max(1, len(edits)),
    }
    if throughput:  # UNet rows per second; a backward row costs about two forward rows
        summary["gpu_hours"] = work.forward_equivalent / throughput / 3600
    if editor_family(recipe.editor.name) == "prompt_to_prompt":
        summary["prompt_to_prompt_editors"] = prompt_to_prompt_costs(recipe, items, throughput)
    return summary
