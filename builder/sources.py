"""Where a release's clean images come from, and the deterministic choice of K images per class.

Sources: the embedded sample photos (real photographs that scikit-image ships, with their ImageNet labels);
ImageNet val as an ImageFolder (`val/<wnid>/*.JPEG`); a flat val folder with a ground-truth file
(`LOC_val_solution.csv`, or the devkit's `ILSVRC2012_validation_ground_truth.txt` with its `meta.mat`); or a
dataset on the Hub (or a local dataset folder) read in streaming through `datasets`, whose label column is the
standard class index.

Listing is cheap (names only); images are opened one at a time when they are edited, so an unreadable file is a
reject, not a crash.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from imagenet_textcorrupt.classes import get_class, load_classes
from imagenet_textcorrupt.errors import DataFileError, ImageNetTCError
from imagenet_textcorrupt.hierarchy import load_hierarchy

from builder.recipes import Recipe, SourceSpec

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


def _sample_photo(name: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        import numpy as np
        from skimage import data

        array = getattr(data, name)()
        if isinstance(array, tuple):  # stereo pairs: the left view
            array = array[0]
        return Image.fromarray(np.asarray(array))
    return load


# Real photographs shipped inside scikit-image, with the ImageNet class a pretrained classifier puts them in
# (tf_efficientnet_lite0: espresso 0.95, tripod 0.94, missile 0.27, moped 0.54, tabby among the top 3 cats).
SAMPLE_PHOTOS: dict[str, tuple[str, Callable[[], Image.Image]]] = {
    "chelsea": ("n02123045", _sample_photo("chelsea")),  # a tabby cat
    "coffee": ("n07920052", _sample_photo("coffee")),  # an espresso
    "camera": ("n04485082", _sample_photo("camera")),  # a cameraman's tripod, grayscale
    "rocket": ("n03773504", _sample_photo("rocket")),  # a rocket on its launch pad
    "motorcycle": ("n03785016", _sample_photo("stereo_motorcycle")),
}


@dataclass(frozen=True)
class SourceImage:
    """One clean image of the source: a stable id, its class, and where to read it."""

    source_id: str
    wnid: str
    locator: str  # a path, a sample name, or a row index of a streamed dataset


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


class SampleSource(Source):
    def by_class(self) -> dict[str, list[SourceImage]]:
        listing: dict[str, list[SourceImage]] = {}
        for name, (wnid, _) in SAMPLE_PHOTOS.items():
            listing.setdefault(wnid, []).append(SourceImage(f"sample-{name}", wnid, name))
        return listing

    def open(self, image: SourceImage) -> Image.Image:
        return SAMPLE_PHOTOS[image.locator][1]()


class ImageFolderSource(Source):
    def by_class(self) -> dict[str, list[SourceImage]]:
        root = Path(str(self.spec.path))
        if not root.is_dir():
            raise ImageNetTCError(f"source.path {root} is not a folder (expected val/<wnid>/*.JPEG)")
        known = {c.wnid for c in load_classes()}
        listing: dict[str, list[SourceImage]] = {}
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name in known):
            listing[folder.name] = [SourceImage(f.stem, folder.name, str(f)) for f in sorted(folder.iterdir())
                                    if f.suffix.lower() in IMAGE_SUFFIXES]
        if not listing:
            raise ImageNetTCError(f"source.path {root} has no <wnid> folders of ImageNet-1k classes")
        return listing


class FlatSource(Source):
    def _labels(self) -> dict[str, str]:
        truth = Path(str(self.spec.ground_truth))
        if not truth.is_file():
            raise ImageNetTCError(f"source.ground_truth {truth}: no such file")
        if truth.suffix == ".csv":
            labels = {}
            with open(truth, newline="") as handle:
                for line, row in enumerate(csv.DictReader(handle), start=2):
                    try:
                        labels[row["ImageId"]] = row["PredictionString"].split()[0]
                    except (KeyError, IndexError, AttributeError):
                        raise DataFileError(str(truth), f"line {line}", "expected ImageId,PredictionString "
                                            "with a wnid first") from None
            return labels
        return self._devkit_labels(truth)

    def _devkit_labels(self, truth: Path) -> dict[str, str]:
        from scipy.io import loadmat

        synsets = loadmat(str(self.spec.devkit_meta), squeeze_me=True)["synsets"]
        id_to_wnid = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets if int(s["num_children"]) == 0}
        labels = {}
        for number, line in enumerate(truth.read_text().split(), start=1):
            if int(line) not in id_to_wnid:
                raise DataFileError(str(truth), f"line {number}", f"ILSVRC2012 id {line} is not a leaf class")
            labels[f"ILSVRC2012_val_{number:08d}"] = id_to_wnid[int(line)]
        return labels

    def by_class(self) -> dict[str, list[SourceImage]]:
        root = Path(str(self.spec.path))
        labels = self._labels()
        listing: dict[str, list[SourceImage]] = {}
        for file in sorted(root.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES and file.stem in labels:
                wnid = labels[file.stem]
                listing.setdefault(wnid, []).append(SourceImage(file.stem, wnid, str(file)))
        return listing


class HubSource(Source):
    """A `datasets` dataset (Hub id or folder), streamed: the first K images of each class in the split's order."""

    def _stream(self) -> Any:
        from datasets import load_dataset

        return load_dataset(self.spec.dataset, self.spec.config, split=self.spec.split,
                            revision=self.spec.revision, streaming=True)

    def by_class(self) -> dict[str, list[SourceImage]]:
        classes = load_classes()
        listing: dict[str, list[SourceImage]] = {}
        for index, row in enumerate(self._stream().select_columns([self.spec.label_column])):
            label = row[self.spec.label_column]
            if isinstance(label, int) and 0 <= label < len(classes):
                wnid = classes[label].wnid
                listing.setdefault(wnid, []).append(SourceImage(f"{self.spec.split}-{index:07d}", wnid,
                                                                str(index)))
        return listing

    def select(self, recipe: Recipe) -> list[SourceImage]:
        wanted = set(selected_wnids(recipe))
        taken: dict[str, list[SourceImage]] = {}
        for image in (im for images in self.by_class().values() for im in images):
            if image.wnid in wanted and len(taken.setdefault(image.wnid, [])) < recipe.selection.images_per_class:
                taken[image.wnid].append(image)
        return sorted((im for images in taken.values() for im in images), key=lambda im: int(im.locator))

    def open(self, image: SourceImage) -> Image.Image:
        return next(self.iter_open([image]))[1]  # type: ignore[return-value]

    def iter_open(self, images: list[SourceImage]) -> Iterator[tuple[SourceImage, Image.Image | Exception]]:
        """One pass over the stream, yielding the wanted rows in stream order."""
        wanted = {int(im.locator): im for im in images}
        last = max(wanted, default=-1)
        for index, row in enumerate(self._stream()):
            if index in wanted:
                try:
                    image = row[self.spec.image_column]
                    image.load()
                    yield wanted[index], image
                except Exception as error:  # an undecodable row is a reject
                    yield wanted[index], error
            if index >= last:
                return


SOURCES: dict[str, type[Source]] = {"samples": SampleSource, "imagefolder": ImageFolderSource, "flat": FlatSource,
                                    "hub": HubSource}


def create_source(spec: SourceSpec) -> Source:
    return SOURCES[spec.type](spec)
