"""The micro world's classifier: reads an image's object colour, object shape and background from pixel masks, with
no learning, so it can judge what a trained model samples and what an editor changes.

- The object is the largest connected region of saturated pixels (HSV saturation > 0.5 and value > 0.3), holes
  filled: the world's backgrounds are never saturated.
- Its colour is the reference colour nearest to the mask's circular mean hue.
- Its shape is the prototype nearest in (fill of the bounding box, fill of the bounding box turned 45 degrees,
  solidity = area / convex hull area): an upright square fills its box but half the turned one, a circle 0.785
  of both, an upright triangle about half of both, a five-pointed star 0.41 of both with a solidity of 0.6 (its
  hull is a pentagon). The turned box is what tells a generated square, whose corners come out rounded, from a
  circle.
- The background is read from the pixels away from the object: green-tinted (grass), blue-tinted (sky), strongly
  varying (stripes), very light (snow), else plain.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from builder.micro.world import COLOURS

SATURATION_MIN = 0.5
VALUE_MIN = 0.3
# (fill of the bounding box, fill of the box turned 45 degrees, solidity): the means over 40 world images of each
# shape (their spread is at most 0.015)
SHAPE_PROTOTYPES = {"circle": (0.785, 0.786, 0.977), "square": (0.993, 0.523, 0.994),
                    "triangle": (0.525, 0.494, 0.947), "star": (0.412, 0.414, 0.597)}
_HUES = {name: colorsys.rgb_to_hsv(*(c / 255 for c in rgb))[0] for name, rgb in COLOURS.items()}


@dataclass(frozen=True)
class Reading:
    colour: str | None  # None: no object found
    shape: str | None
    background: str
    mask: np.ndarray  # bool, the object's pixels

    def matches(self, colour: str, shape: str, background: str | None = None) -> bool:
        return self.colour == colour and self.shape == shape and background in (None, self.background)


def object_pixels(image: Image.Image) -> np.ndarray:
    """The object's mask: the largest connected region of saturated pixels, holes filled (a generated image has
    stray saturated specks and blotches inside the object; a drawn one has neither)."""
    from scipy.ndimage import binary_fill_holes, label

    hsv = np.asarray(image.convert("RGB").convert("HSV"), dtype=np.float64) / 255.0
    saturated = (hsv[..., 1] > SATURATION_MIN) & (hsv[..., 2] > VALUE_MIN)
    regions, count = label(saturated)
    if count == 0:
        return saturated
    largest = np.argmax(np.bincount(regions.ravel())[1:]) + 1
    return binary_fill_holes(regions == largest)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _colour(image: Image.Image, mask: np.ndarray) -> str:
    hue = np.asarray(image.convert("RGB").convert("HSV"), dtype=np.float64)[..., 0][mask] / 255.0 * 2 * math.pi
    mean = math.atan2(np.sin(hue).mean(), np.cos(hue).mean()) / (2 * math.pi) % 1.0
    return min(_HUES, key=lambda name: min(abs(mean - _HUES[name]), 1 - abs(mean - _HUES[name])))


def _shape(mask: np.ndarray) -> str:
    features = shape_features(mask)
    return min(SHAPE_PROTOTYPES, key=lambda s: sum((f - p) ** 2 for f, p in zip(features, SHAPE_PROTOTYPES[s])))


def shape_features(mask: np.ndarray) -> tuple[float, float, float]:
    """(fill of the bounding box, fill of the bounding box turned 45 degrees, solidity) of a mask."""
    from skimage.morphology import convex_hull_image

    rows, cols = np.nonzero(mask)
    area = float(mask.sum())
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    across, along = rows + cols, rows - cols  # diagonal coordinates: a 45-degree box is half their product
    box45 = (across.max() - across.min() + 1) * (along.max() - along.min() + 1) / 2
    return area / box, area / box45, area / float(convex_hull_image(mask).sum())


def _background(image: Image.Image, mask: np.ndarray) -> str:
    from scipy.ndimage import binary_dilation

    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    away = ~binary_dilation(mask, iterations=3) if mask.any() else np.ones(mask.shape, bool)
    rest = pixels[away] if away.sum() >= 16 else pixels.reshape(-1, 3)
    r, g, b = rest.mean(axis=0)
    if g - max(r, b) > 12:
        return "grass"
    if b - r > 25:
        return "sky"
    if rest.mean(axis=1).std() > 18:
        return "stripes"
    if rest.mean() > 224:
        return "snow"
    return "plain"


def read(image: Image.Image) -> Reading:
    """What the image shows, as the micro world's attributes."""
    mask = object_pixels(image)
    background = _background(image, mask)
    if mask.sum() < 12:  # a few stray pixels are no object
        return Reading(None, None, background, mask)
    return Reading(_colour(image, mask), _shape(mask), background, mask)
