"""The ImageNet validation folder (`val/<wnid>/ILSVRC2012_val_########.JPEG`), checked and listed as the study
walks it.

The study's draws depend on the folder: on which classes exist and on how many colour images each chosen class
holds. So a folder that is not the validation layout is refused with what is wrong (missing class folders, files
that are not validation images, too few images), rather than replayed into other images than the study's.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from imagenet_textcorrupt.errors import ImageNetTCError

VAL_NAME = re.compile(r"^ILSVRC2012_val_\d{8}\.JPEG$")
VAL_IMAGES_PER_CLASS = 50  # the validation set's images per class


class LayoutError(ImageNetTCError):
    """A source folder that is not the ImageNet validation layout; the message says what is missing."""


def listed(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def is_colour(path: str) -> bool:
    """Whether the study keeps the image: it skips those with `np.array(Image.open(path)).ndim < 3`, i.e. one band
    (L, P, 1, I;16, ...); the header says so without decoding the pixels."""
    with Image.open(path) as image:
        return len(image.getbands()) > 1


@dataclass
class ValFolder:
    """A validation folder: its class folders' image files in the study's walk order."""

    root: Path
    extensions: tuple[str, ...]  # the study's image extensions (any case)
    files: dict[str, list[str]] = field(default_factory=dict)  # wnid -> image paths, in walk order

    def walk(self, wnid: str) -> list[str]:
        """make_dataset's order: `sorted(os.walk(folder))`, each folder's file names sorted, images only."""
        if wnid not in self.files:
            found = []
            for root, _, names in sorted(os.walk(self.root / wnid)):
                found += [os.path.join(root, n) for n in sorted(names) if n.lower().endswith(self.extensions)]
            self.files[wnid] = found
        return self.files[wnid]

    def colour(self, wnid: str) -> list[str]:
        return [path for path in self.walk(wnid) if is_colour(path)]


def check_folder(folder: ValFolder, wnids: list[str], needed: int) -> None:
    """Refuse a folder without every class folder, with image files that are not named as validation images, or
    with a class of fewer than `needed` images; the message lists what is wrong."""
    root = folder.root
    if not root.is_dir():
        raise LayoutError(f"source.path {root} is not a folder (expected the ImageNet validation folder, "
                          "val/<wnid>/ILSVRC2012_val_########.JPEG)")
    present = {p.name for p in root.iterdir() if p.is_dir()}
    missing = [w for w in wnids if w not in present]
    problems = []
    if missing:
        others = sorted(present - set(wnids))
        problems.append(f"{len(missing)} of the {len(wnids)} class folders are missing ({listed(missing)})"
                        + (f"; folders that are not ImageNet class ids: {listed(others)}" if others else ""))
    misnamed, few = [], []
    for wnid in (w for w in wnids if w in present):
        files = folder.walk(wnid)
        misnamed += [os.path.relpath(p, root) for p in files if not VAL_NAME.match(os.path.basename(p))]
        if len(files) < needed:
            few.append(f"{wnid} ({len(files)})")
    if misnamed:
        problems.append(f"{len(misnamed)} images are not named as validation images, ILSVRC2012_val_########.JPEG "
                        f"({listed(misnamed, 5)}): is this the train folder, or a renamed copy?")
    if few:
        problems.append(f"{len(few)} classes have fewer than {needed} images ({listed(few)})")
    if problems:
        raise LayoutError(f"source.path {root} is not the ImageNet validation layout: " + "; ".join(problems))


def check_colour(folder: ValFolder, wnids: list[str], needed: int) -> dict[str, list[str]]:
    """The chosen classes' colour images in walk order; refused when one has fewer than `needed` (the study would
    take them all and draw nothing, so its later draws would not be the study's)."""
    colour, few, unreadable = {}, [], []
    for wnid in wnids:
        kept = []
        for path in folder.walk(wnid):
            try:
                if is_colour(path):
                    kept.append(path)
            except OSError as error:  # the study's np.array(Image.open(path)) stops the run on it
                unreadable.append(f"{os.path.relpath(path, folder.root)} ({error})")
        colour[wnid] = kept
        if len(kept) < needed:
            few.append(f"{wnid} ({len(kept)} colour of {len(folder.walk(wnid))})")
    problems = []
    if unreadable:
        problems.append(f"{len(unreadable)} images cannot be read: {listed(unreadable, 5)}")
    if few:
        problems.append(f"the study samples {needed} colour images per class (greyscale ones are skipped) and "
                        f"{len(few)} of its classes have fewer: {listed(few)}")
    if problems:
        raise LayoutError(f"source.path {folder.root}: " + "; ".join(problems))
    return colour
