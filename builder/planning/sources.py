"""Where a release's clean images come from, and the deterministic choice of K images per class.

Sources: the embedded sample photos (real photographs that scikit-image ships, labelled by hand in
`builder/planning/sample_photos.yaml` with where each comes from and what it shows);
ImageNet val as an ImageFolder (`val/<wnid>/*.JPEG`); a flat val folder with a ground-truth file
(`LOC_val_solution.csv`, or the devkit's `ILSVRC2012_validation_ground_truth.txt` with its `meta.mat`); or a
dataset on the Hub (or a local dataset folder) read in streaming through `datasets`, whose label column is the
standard class index.
The `study` source (`builder.study.source`) is the validation folder again, with the source study's selection
replayed over it: its images, and for each the prompts the study drew (`SourceImage.prompts`), which the plan
uses instead of the prompt hierarchy's.

Listing is cheap (names only); images are opened one at a time when they are edited, so an unreadable file is a
reject, not a crash.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from imagenet_textcorrupt.classes import get_class, load_classes
from imagenet_textcorrupt.errors import DataFileError, ImageNetTCError

from builder.planning.recipes import Recipe, SourceSpec
from builder.planning.source_base import (FixedPrompt, Source, SourceImage, derive_seed,  # noqa: F401 - their home
                                 selected_wnids)

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
SAMPLES_FILE = Path(__file__).resolve().with_name("sample_photos.yaml")
SAMPLE_KEYS = ("loader", "wnid", "label", "shows", "source")


def _sample_photo(name: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        import numpy as np
        from skimage import data

        array = getattr(data, name)()
        if isinstance(array, tuple):  # stereo pairs: the left view
            array = array[0]
        return Image.fromarray(np.asarray(array))
    return load


@dataclass(frozen=True)
class SamplePhoto:
    """One embedded sample photo and its hand-given label."""

    name: str
    loader: str  # the skimage.data function
    wnid: str
    label: str  # the class's display name, as a check on the wnid
    shows: str
    source: str


def load_sample_photos(path: str | Path = SAMPLES_FILE) -> dict[str, SamplePhoto]:
    """The sample photos of the data file, checked: every key present, every wnid an ImageNet-1k class whose
    display name is the label given."""
    import yaml

    from imagenet_textcorrupt.errors import UnknownNameError

    name = Path(path).name
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DataFileError(name, "", f"cannot be read ({error})") from None
    photos = data.get("photos") if isinstance(data, dict) else None
    if not isinstance(photos, dict) or not photos:
        raise DataFileError(name, "photos", "must map photo names to their entries")
    out = {}
    for photo, entry in photos.items():
        where = f"photos.{photo}"
        if not isinstance(entry, dict):
            raise DataFileError(name, where, "must be a mapping")
        for key in SAMPLE_KEYS:
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise DataFileError(name, f"{where}.{key}", "missing (every photo says what it shows and where it "
                                                            "comes from)")
        unknown = sorted(set(entry) - set(SAMPLE_KEYS))
        if unknown:
            raise DataFileError(name, f"{where}.{unknown[0]}", f"unknown key; a photo has {', '.join(SAMPLE_KEYS)}")
        try:
            cls = get_class(entry["wnid"])
        except UnknownNameError as error:
            raise DataFileError(name, f"{where}.wnid", str(error)) from None
        if cls.name != entry["label"]:
            raise DataFileError(name, f"{where}.label", f"{entry['label']!r} is not the class of {cls.wnid} "
                                                        f"({cls.name!r})")
        out[photo] = SamplePhoto(photo, **{k: entry[k].strip() for k in SAMPLE_KEYS})
    return out


# name -> (wnid, a function that opens the photo)
SAMPLE_PHOTOS: dict[str, tuple[str, Callable[[], Image.Image]]] = {
    name: (photo.wnid, _sample_photo(photo.loader)) for name, photo in load_sample_photos().items()}


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
    if spec.type == "study":  # the study's selection replayed over a validation folder (builder.study)
        from builder.study.source import StudySource

        return StudySource(spec)
    return SOURCES[spec.type](spec)
