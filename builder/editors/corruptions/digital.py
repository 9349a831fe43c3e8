"""ImageNet-C's digital corruptions: contrast, elastic_transform, pixelate and jpeg_compression."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

from builder.editors.corruptions.common import Corruption
from builder.editors.corruptions.filters import gaussian, unit


def contrast(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = (0.4, 0.3, 0.2, 0.1, 0.05)[severity - 1]
    x = unit(x)
    means = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def elastic_transform(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Each pixel moved by a smooth random field (Gaussian-filtered uniform noise), bilinear, reflected borders."""
    alpha = 250 * (0.05, 0.065, 0.085, 0.1, 0.12)[severity - 1]
    x = np.asarray(x, dtype=np.float32) / 255.0
    height, width = x.shape[:2]
    sigma = (height * 0.01, width * 0.01)
    most = height * 0.005
    dx = (gaussian(rng.uniform(-most, most, size=(height, width)), sigma, "reflect", 3) * alpha).astype(np.float32)
    dy = (gaussian(rng.uniform(-most, most, size=(height, width)), sigma, "reflect", 3) * alpha).astype(np.float32)
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    coordinates = np.stack([rows + dy, cols + dx])
    moved = np.stack([ndimage.map_coordinates(x[..., k], coordinates, order=1, mode="reflect")
                      for k in range(x.shape[2])], axis=-1)
    return np.clip(moved, 0, 1) * 255


def pixelate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = (0.6, 0.5, 0.4, 0.3, 0.25)[severity - 1]
    height, width = x.shape[:2]
    small = Image.fromarray(x).resize((int(width * c), int(height * c)), Image.BOX)
    return np.asarray(small.resize((width, height), Image.NEAREST), dtype=np.float64)


def jpeg_compression(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    quality = (25, 18, 15, 10, 7)[severity - 1]
    buffer = io.BytesIO()
    Image.fromarray(x).save(buffer, "JPEG", quality=quality)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.float64)


# the family's corruptions, in ImageNet-C's order
DIGITAL: tuple[Corruption, ...] = (contrast, elastic_transform, pixelate, jpeg_compression)
