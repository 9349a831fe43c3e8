"""The `study` source: the study's images of an ImageNet validation folder, each with the prompts it drew.

A recipe with `source: {type: study, path: val/}` (`builder/recipes/study.yaml`) builds exactly the study's
selection: the recipe's `seed` is the study's `--seed`, `selection.images_per_class` its `--num_images`, and its
`--num_classes` and `--sub_class all` are the lists' (100 classes by the sub-class quotas). Every image carries
its source prompt ("A {name}") and one drawn prompt per domain that has templates for its sub-class; an image's
source id is its file name (ILSVRC2012_val_########), and its rows' ids say which prompt was drawn.

With `source: {type: study, prompts: hierarchy}` (`builder/recipes/study-paired.yaml`) the selection is the same
(the prompt draws come after every image is chosen, so they cannot change it) but the images carry no prompts:
the recipe's prompt hierarchy gives them, its domains, templates and severities, as for any other source. Every
row records which it was, and the recipe's name, in `edit_parameters["study"]`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.classes import load_classes
from imagenet_textcorrupt.schema import DOMAINS

from builder.planning.recipes import Recipe, SourceSpec
from builder.planning.source_base import FixedPrompt, Source, SourceImage
from builder.study.layout import VAL_IMAGES_PER_CLASS, ValFolder, check_colour, check_folder
from builder.study.lists import StudyLists, load_lists
from builder.study.replay import Replay, StudyImage, chosen_classes, replay

ASSUMED_IMAGES_PER_CLASS = VAL_IMAGES_PER_CLASS  # a plan without the folder: every class as the validation set holds


class StudySource(Source):
    def __init__(self, spec: SourceSpec, lists: StudyLists | None = None):
        super().__init__(spec)
        self.lists = lists or load_lists()
        self.prompts = spec.prompts or "study"  # "study": its drawn prompts; "hierarchy": the recipe's
        self.folder = ValFolder(Path(str(spec.path)), self.lists.image_extensions)

    def replay(self, recipe: Recipe) -> Replay:
        """The study's draws over this folder, after checking that it is the validation layout."""
        needed = recipe.selection.images_per_class
        check_folder(self.folder, [c.wnid for c in load_classes()], needed)
        classes = chosen_classes(recipe.seed, self.lists, self.lists.num_classes)
        colour = check_colour(self.folder, classes, needed)
        other = [w for w in classes if len(self.folder.walk(w)) != VAL_IMAGES_PER_CLASS]
        if other:
            warnings.warn(f"{len(other)} of the study's classes do not hold the validation set's "
                          f"{VAL_IMAGES_PER_CLASS} images in {self.folder.root} (e.g. {other[0]}: "
                          f"{len(self.folder.walk(other[0]))}); the study's draws over this folder choose other "
                          "images than over the full validation set", stacklevel=2)
        return replay(recipe.seed, self.lists, colour.__getitem__, self.lists.num_classes, needed)

    def select(self, recipe: Recipe) -> list[SourceImage]:
        return [self.image(im) for im in self.replay(recipe).images]

    def by_class(self) -> dict[str, list[SourceImage]]:
        listing: dict[str, list[SourceImage]] = {}
        for cls in load_classes():
            listing[cls.wnid] = [SourceImage(Path(p).stem, cls.wnid, p) for p in self.folder.walk(cls.wnid)]
        return listing

    def image(self, drawn: StudyImage) -> SourceImage:
        if self.prompts == "hierarchy":  # the study's image; its prompts come from the recipe's hierarchy
            return SourceImage(Path(drawn.path).stem, drawn.wnid, drawn.path)
        colors = len(self.lists.colors)
        prompts = tuple(FixedPrompt(study_domain(p.domain), p.index(colors), p.template, p.text) for p in drawn.prompts)
        return SourceImage(Path(drawn.path).stem, drawn.wnid, drawn.path, drawn.source_prompt, prompts)

    def assumed(self, recipe: Recipe) -> list[SourceImage]:
        """A plan's stand-ins when the folder is not at hand: the seed's classes (exact: they depend on nothing
        else), as many images as the study samples from each, the prompts drawn as if every class held
        `ASSUMED_IMAGES_PER_CLASS` colour images (the counts are exact; which prompt each image gets is not,
        with the study's prompts or the hierarchy's: the stand-ins' ids are not the files')."""
        drawn = replay(recipe.seed, self.lists,
                       lambda wnid: [f"{wnid}-assumed-{i:03d}" for i in range(ASSUMED_IMAGES_PER_CLASS)],
                       self.lists.num_classes, recipe.selection.images_per_class)
        return [self.image(im) for im in drawn.images]

    def row_parameters(self, recipe: Recipe, wnid: str) -> dict[str, Any]:
        """The recipe (its name and version), whose prompts (the study's or the hierarchy's), the study's code, the
        class's sub-class, and how the images are stored (the study's JPEG quality 85, the originals at their own
        size), beside the editor's settings that the row records anyway."""
        output = recipe.output
        return {"study": {"recipe": recipe.name, "recipe_version": recipe.version, "prompts": self.prompts,
                          "code": self.lists.code, "seed": recipe.seed, "sub_class": self.lists.sub_class_of(wnid),
                          "stored": {"format": output.format, "jpeg_quality": output.jpeg_quality,
                                     "jpeg_subsampling": output.jpeg_subsampling, "originals": output.originals}}}


def study_domain(name: str) -> str:
    """Our name of a study's domain (Drawing -> drawing)."""
    domain = name.lower()
    if domain not in DOMAINS:
        raise ValueError(f"the study's domain {name!r} is none of ours ({', '.join(DOMAINS)})")
    return domain
