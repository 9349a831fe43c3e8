"""The micro world as a text-guided corruption benchmark, end to end: held-out scenes, their colour and background
edits by a real editor on the shipped micro model, and the micro classifier's accuracy on both.

The classifier's label is the shape (the micro world's "class"); an edit changes the colour or the background (its
"domain") and should keep the shape, as an ImageNet-TC edit keeps the class. The measurements here are what the
behaviour tests assert and what the demo reports: how often an edit is read as its target, how much of the
object's mask it keeps, how far it moves the pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from builder.micro import classify, world

VALIDATION_SEED = 5_000_000  # the shipped model (seed 0) trained on seeds 0..5999; a --seed near 5 would reach these
COLOUR_SWAP = {"red": "blue", "blue": "red", "green": "yellow", "yellow": "green"}
BACKGROUND_SWAP = {"plain": "snow", "snow": "grass", "grass": "sky", "sky": "stripes", "stripes": "plain"}
EDIT_KINDS = ("colour", "background")


def validation_scenes(count: int, start: int = VALIDATION_SEED) -> tuple[list[Image.Image], list[world.Scene]]:
    """`count` held-out images of the world and their scenes."""
    drawn = [world.sample(start + i) for i in range(count)]
    return [image for image, _ in drawn], [scene for _, scene in drawn]


def edited_scene(scene: world.Scene, kind: str) -> world.Scene:
    """The scene an edit of `kind` asks for: the colour or the background swapped, the shape kept."""
    if kind == "colour":
        return replace(scene, colour=COLOUR_SWAP[scene.colour])
    if kind == "background":
        return replace(scene, background=BACKGROUND_SWAP[scene.background])
    raise ValueError(f"unknown edit kind {kind!r}; expected one of {', '.join(EDIT_KINDS)}")


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio of two 8-bit images, in dB."""
    error = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))


def pixel_distance(a: Image.Image, b: Image.Image, where: np.ndarray | None = None) -> float:
    """Mean absolute difference of two 8-bit images (0-255), over the pixels in `where` (all by default)."""
    difference = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean(axis=2)
    return float(difference.mean() if where is None else difference[where].mean())


@dataclass(frozen=True)
class EditReadings:
    """What the micro classifier reads in edits of some originals into some target scenes."""

    as_target: list[bool]  # the edit shows the target's colour, shape and background
    object_as_target: list[bool]  # the edit shows the target's colour and shape (its object)
    kept_shape: list[bool]  # the edit shows the original's shape (the "label")
    mask_iou: list[float]  # the edit's object mask against the original's
    distance: list[float]  # mean absolute pixel change

    @property
    def target_rate(self) -> float:
        return float(np.mean(self.as_target))

    @property
    def object_rate(self) -> float:
        return float(np.mean(self.object_as_target))

    @property
    def shape_rate(self) -> float:
        return float(np.mean(self.kept_shape))

    @property
    def mean_iou(self) -> float:
        return float(np.mean(self.mask_iou))

    @property
    def mean_distance(self) -> float:
        return float(np.mean(self.distance))


def read_edits(originals: Sequence[Image.Image], edits: Sequence[Image.Image],
               targets: Sequence[world.Scene]) -> EditReadings:
    as_target, as_object, kept, ious, distances = [], [], [], [], []
    for original, edit, target in zip(originals, edits, targets, strict=True):
        before, after = classify.read(original), classify.read(edit)
        as_target.append(after.matches(target.colour, target.shape, target.background))
        as_object.append(after.matches(target.colour, target.shape))
        kept.append(after.shape == target.shape)
        ious.append(classify.mask_iou(after.mask, before.mask))
        distances.append(pixel_distance(original, edit))
    return EditReadings(as_target, as_object, kept, ious, distances)


@dataclass(frozen=True)
class MicroRun:
    """The micro benchmark's outcome: originals, their edits by kind, and the classifier's readings."""

    originals: list[Image.Image]
    scenes: list[world.Scene]
    edits: dict[str, list[Image.Image]]
    readings: dict[str, EditReadings]
    clean_shape_rate: float  # the classifier's accuracy (the shape) on the originals
    editor: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"editor": self.editor, "images": len(self.originals), "seconds": round(self.seconds, 1),
                "clean_accuracy": self.clean_shape_rate,
                "edits": {kind: {"accuracy": r.shape_rate, "drop": self.clean_shape_rate - r.shape_rate,
                                 "read_as_target": r.target_rate, "mean_mask_iou": round(r.mean_iou, 4),
                                 "mean_pixel_change": round(r.mean_distance, 2)}
                          for kind, r in self.readings.items()}}


def run(count: int = 6, editor_name: str = "p2p-nulltext", steps: int = 20, severity: int = 2,
        cache_dir: str | Path | None = None, log: Callable[[str], None] = print) -> MicroRun:
    """Edit `count` held-out scenes' colours and backgrounds with a real editor on the shipped micro model."""
    import time

    from builder.editors import create_editor

    started = time.perf_counter()
    originals, scenes = validation_scenes(count)
    editor = create_editor(editor_name, model="tiny:micro", device="cpu", dtype="float32", resolution=world.SIZE,
                           steps=steps, cache_dir=str(cache_dir) if cache_dir else None)
    sources = [scene.caption for scene in scenes]
    edits, readings = {}, {}
    for kind in EDIT_KINDS:
        targets = [edited_scene(scene, kind) for scene in scenes]
        results = editor.edit(originals, sources, [t.caption for t in targets], severity, list(range(count)))
        edits[kind] = [result.image for result in results]
        readings[kind] = read_edits(originals, edits[kind], targets)
        log(f"  {kind}: {readings[kind].target_rate:.0%} read as the target caption, shape kept on "
            f"{readings[kind].shape_rate:.0%}")
    clean = float(np.mean([classify.read(image).shape == scene.shape for image, scene in zip(originals, scenes)]))
    return MicroRun(originals, scenes, edits, readings, clean, editor_name, time.perf_counter() - started)


def draw_sheet(result: MicroRun, path: str | Path, zoom: int = 2) -> Path:
    """A contact sheet: per scene, the original and its edits, each under its caption."""
    from PIL import ImageDraw

    side, label = world.SIZE * zoom, 24  # two lines: "red star" / "on grass"
    columns = 1 + len(result.edits)
    header = 14
    width, height = columns * (side + 4) + 4, header + len(result.originals) * (side + label + 4) + 4
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(["original", *(f"{kind} edit" for kind in result.edits)]):
        draw.text((4 + c * (side + 4), 2), title, fill="black")
    for r, (original, scene) in enumerate(zip(result.originals, result.scenes)):
        y = header + r * (side + label + 4)
        tiles = [(original, scene.caption)] + [(result.edits[kind][r], edited_scene(scene, kind).caption)
                                               for kind in result.edits]
        for c, (image, caption) in enumerate(tiles):
            x = 4 + c * (side + 4)
            sheet.paste(image.resize((side, side), Image.Resampling.NEAREST), (x, y))
            thing, _, where = caption.removeprefix("a ").partition(" on ")
            draw.text((x, y + side), f"{thing}\non {where}", fill="black")
    import io

    from imagenet_textcorrupt.atomic import atomic_write_bytes

    encoded = io.BytesIO()
    sheet.save(encoded, format="PNG")
    return atomic_write_bytes(path, encoded.getvalue())
