"""The study's random draws, replayed in its order.

Written from `generate_data.py` of github ckoorosh/RobuText (commit a2e1b93); none of its code is copied. Its
main block calls `random.seed(args.seed)` and nothing draws from Python's `random` until the dataset is made (torch
and numpy have generators of their own; loading the pipeline draws nothing). Then, in one sequence:

1. `find_classes` (`--sub_class all`): for each sub-class in its lists' order, `random.sample(list, quota)`;
   if `--num_classes` is below the total drawn (100 = 100 in the study's command: no draw),
   `random.sample(classes, num_classes)`; the classes already in the output folder are removed (a fresh run:
   none) and the rest sorted.
2. `make_dataset`: for each class folder in sorted order, its images in `sorted(os.walk(...))` order, sorted file
   names, greyscale ones skipped; `random.sample(images, num_images)` when the class has more than that (the
   sample's order is kept).
3. `save_edited` edits the images one by one in that order; `null_text_edit` draws nothing while it inverts and
   reconstructs, then for each domain of its main block (Drawing, Weather, Color, Context, Texture) that has
   templates for the image's sub-class: `random.choice(templates)`, and for Color then `random.choice(colors)`
   (the template's call is evaluated before the `format` arguments). A domain without templates draws nothing.

So a replay needs the seed, the lists, and each chosen class's colour images in walk order: `replay` takes them
through `colour_images`, called once per chosen class in sorted order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from builder.study.lists import StudyLists


@dataclass(frozen=True)
class DrawnPrompt:
    """One target prompt the study drew for an image."""

    domain: str  # the study's name: Drawing, Weather, Color, Context or Texture
    template: str
    text: str
    template_index: int  # in the sub-class's templates of this domain
    color_index: int | None = None  # Color only

    def index(self, colors: int) -> int:
        """Its place among the prompts the draw could have given (Color: templates x colours)."""
        return self.template_index if self.color_index is None else self.template_index * colors + self.color_index


@dataclass(frozen=True)
class StudyImage:
    wnid: str
    path: str  # as `colour_images` gave it
    sub_class: str
    source_prompt: str  # "A {name}"
    prompts: tuple[DrawnPrompt, ...]  # in the order drawn


@dataclass(frozen=True)
class Replay:
    seed: int
    classes: tuple[str, ...]  # sorted
    images: tuple[StudyImage, ...]  # in the study's order: classes sorted, each class's images in sample order


def draw_classes(rng: random.Random, lists: StudyLists, num_classes: int) -> list[str]:
    """find_classes with `--sub_class all`: the per-sub-class draws, then the draw of `num_classes` among them."""
    classes: list[str] = []
    for sub_class, wnids in lists.sub_classes.items():
        classes.extend(rng.sample(list(wnids), lists.quotas[sub_class]))
    if 0 < num_classes < len(classes):
        classes = rng.sample(classes, num_classes)
    return sorted(set(classes))


def chosen_classes(seed: int, lists: StudyLists, num_classes: int) -> list[str]:
    """The classes a run with this seed chooses (they depend on nothing else)."""
    return draw_classes(random.Random(seed), lists, num_classes)


def draw_prompts(rng: random.Random, lists: StudyLists, wnid: str) -> tuple[str, tuple[DrawnPrompt, ...]]:
    """null_text_edit's draws for one image: its sub-class, and a template (and a colour) per domain that has some."""
    sub_class = lists.sub_class_of(wnid)
    name = lists.name(wnid)
    drawn = []
    for domain in lists.domains:
        templates = lists.prompts[domain].get(sub_class)
        if not templates:  # the study records 'N/A' and draws nothing
            continue
        template = rng.choice(templates)
        if domain == "Color":
            color = rng.choice(lists.colors)
            drawn.append(DrawnPrompt(domain, template, template.format(color, name), templates.index(template),
                                     lists.colors.index(color)))
        else:
            drawn.append(DrawnPrompt(domain, template, template.format(name), templates.index(template)))
    return sub_class, tuple(drawn)


def replay(seed: int, lists: StudyLists, colour_images: Callable[[str], Sequence[str]], num_classes: int,
           num_images: int) -> Replay:
    """The study's draws for one seed: its classes, its images and each image's target prompts."""
    rng = random.Random(seed)  # random.seed(n) with an int seeds the global generator as Random(n) does
    classes = draw_classes(rng, lists, num_classes)
    chosen: list[tuple[str, str]] = []
    for wnid in classes:  # make_dataset: the class folders in sorted order
        files = list(colour_images(wnid))
        if 0 < num_images < len(files):
            files = rng.sample(files, num_images)
        chosen.extend((wnid, path) for path in files)
    images = []
    for wnid, path in chosen:  # save_edited: one image after another
        sub_class, prompts = draw_prompts(rng, lists, wnid)
        images.append(StudyImage(wnid, path, sub_class, lists.source_prompt(wnid), prompts))
    return Replay(seed, tuple(classes), tuple(images))
