"""What one edit of a micro-world scene did, judged against the scene's ground truth, and the figures of many edits
with their 95% intervals.

Ground truth is the world's own: the object's true coverage of every pixel (`world.object_mask`) and the scene's
attributes. Per edit:

- **target reached**: the micro classifier reads the target caption (colour, shape and background), and the target
  object alone (colour and shape);
- **label kept**: it reads the original's shape, the micro world's class;
- **structure**: IoU of the object mask it reads in the edit with the original's true object (coverage >= 0.5);
- **kept region**: PSNR and mean absolute change (0-255) over the pixels the edit should not touch: for a colour
  edit the background at least `BACKGROUND_MARGIN` pixels (Euclidean) from any pixel the object covers, for a
  background edit the object's fully covered pixels; PSNR is capped at `PSNR_CAP` (identical pixels);
- **reconstruction** (no-op edits, target prompt = source prompt): PSNR of the whole image.

Rates get Wilson score intervals; means get seeded percentile-bootstrap intervals over scenes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from builder.micro import benchmark, classify, world
from builder.review.stats import wilson

BACKGROUND_MARGIN = 4.0  # pixels between the object's footprint and the background a colour edit must keep
PSNR_CAP = 60.0  # dB: what identical pixels count as (an 8-bit error of one level everywhere is 48.1 dB)
BOOTSTRAP_RESAMPLES = 2000
EDIT_KINDS = ("colour", "background")
NOOP = "noop"  # the no-op edit: the source prompt as target


@dataclass(frozen=True)
class Truth:
    """A scene's original image and the regions its edits are judged on."""

    image: Image.Image
    scene: world.Scene
    object: np.ndarray  # bool: coverage >= 0.5
    background: np.ndarray  # bool: at least BACKGROUND_MARGIN pixels from any covered pixel
    interior: np.ndarray  # bool: fully covered

    @classmethod
    def of(cls, image: Image.Image, scene: world.Scene) -> Truth:
        from scipy.ndimage import distance_transform_edt

        coverage = world.object_mask(scene, image.size[0])
        distance = distance_transform_edt(coverage == 0)
        return cls(image, scene, coverage >= 0.5, distance >= BACKGROUND_MARGIN, coverage >= 1.0 - 1e-9)

    def kept_region(self, kind: str) -> np.ndarray:
        """The pixels an edit of `kind` (colour or background) should leave alone."""
        return self.background if kind == "colour" else self.interior


def psnr(a: Image.Image, b: Image.Image, where: np.ndarray | None = None) -> float:
    """PSNR of two 8-bit images in dB over `where` (all pixels by default), capped at PSNR_CAP."""
    squared = ((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).mean(axis=2)
    error = float(squared.mean() if where is None else squared[where].mean())
    return PSNR_CAP if error == 0 else min(PSNR_CAP, 10 * math.log10(255.0**2 / error))


def measure(truth: Truth, edit: Image.Image, kind: str, target: world.Scene) -> dict[str, Any]:
    """The figures of one edit of `kind` (a kind of EDIT_KINDS, or NOOP) towards the scene `target`."""
    if kind == NOOP:
        return {"psnr": psnr(edit, truth.image)}
    reading, kept = classify.read(edit), truth.kept_region(kind)
    return {"as_target": reading.matches(target.colour, target.shape, target.background),
            "object_as_target": reading.matches(target.colour, target.shape),
            "label_kept": reading.shape == truth.scene.shape,
            "iou": classify.mask_iou(reading.mask, truth.object),
            "kept_psnr": psnr(edit, truth.image, kept),
            "kept_change": benchmark.pixel_distance(edit, truth.image, kept)}


def rate(values: Sequence[bool]) -> dict[str, float]:
    """A share with its Wilson interval."""
    hits = sum(bool(v) for v in values)
    low, high = wilson(hits / len(values), len(values))
    return {"value": hits / len(values), "ci_low": low, "ci_high": high, "n": len(values)}


def mean(values: Sequence[float], seed: int) -> dict[str, float]:
    """A mean with its percentile-bootstrap 95% interval (BOOTSTRAP_RESAMPLES resamples drawn from `seed`)."""
    array = np.asarray(values, dtype=np.float64)
    draws = np.random.default_rng(seed).integers(0, len(array), (BOOTSTRAP_RESAMPLES, len(array)))
    means = array[draws].mean(axis=1)
    return {"value": float(array.mean()), "ci_low": float(np.percentile(means, 2.5)),
            "ci_high": float(np.percentile(means, 97.5)), "n": len(array)}


RATES = ("as_target", "object_as_target", "label_kept")
MEANS = ("iou", "kept_psnr", "kept_change")


def summarise(records: Sequence[dict[str, Any]], seed: int) -> dict[str, dict[str, float]]:
    """The figures of several edits of one kind: every rate and mean of `measure`, with intervals."""
    keys = [k for k in (*RATES, *MEANS, "psnr") if k in records[0]]
    return {k: rate([r[k] for r in records]) if k in RATES else mean([r[k] for r in records], seed) for k in keys}
