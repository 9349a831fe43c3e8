"""ImageNet-C's blur corruptions: defocus_blur, glass_blur, motion_blur and zoom_blur."""

from __future__ import annotations

import numpy as np

from builder.editors.corruptions.common import Corruption
from builder.editors.corruptions.filters import (clipped_zoom, correlate_reflect101, gaussian, gaussian_kernel_1d,
                                                 motion, unit)


def _disk(radius: int, alias_blur: float) -> np.ndarray:
    side = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    size = 3 if radius <= 8 else 5
    xx, yy = np.meshgrid(side, side)
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float32)  # float32, as the reference's kernel
    disk /= disk.sum()
    smooth = gaussian_kernel_1d(size, alias_blur)  # cv2.GaussianBlur(disk, (size, size), alias_blur)
    return correlate_reflect101(disk[..., None], np.outer(smooth, smooth))[..., 0].astype(np.float32)


def defocus_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, alias = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))[severity - 1]
    return np.clip(correlate_reflect101(unit(x), _disk(radius, alias)), 0, 1) * 255


def glass_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blur, then give each pixel a random neighbour's value (bottom-right to top-left, `iterations` times), blur.

    The reference writes a swap, `x[h, w], x[h', w'] = x[h', w'], x[h, w]`, but x[h', w'] and x[h, w] are views of
    three channels, so the second assignment copies back what the first wrote: the neighbour's pixel is copied, not
    swapped. ImageNet-C was made that way, so it is done that way here."""
    sigma, delta, iterations = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))[severity - 1]
    blurred = (gaussian(unit(x), sigma) * 255).astype(np.uint8)
    height, width = blurred.shape[:2]
    rows, cols = range(height - delta, delta, -1), range(width - delta, delta, -1)
    offsets = rng.integers(-delta, delta, size=(iterations, len(rows), len(cols), 2)).tolist()
    source = list(range(height * width))  # which original pixel each pixel holds, updated in pure Python for speed
    for it in range(iterations):
        for i, h in enumerate(rows):
            line = offsets[it][i]
            for j, w in enumerate(cols):
                dx, dy = line[j]
                source[h * width + w] = source[(h + dy) * width + w + dx]
    shuffled = blurred.reshape(-1, 3)[np.asarray(source)].reshape(blurred.shape)
    return np.clip(gaussian(shuffled / 255.0, sigma), 0, 1) * 255


def motion_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, sigma = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))[severity - 1]
    return np.clip(motion(np.asarray(x, dtype=np.float64), radius, sigma, rng.uniform(-45, 45)), 0, 255)


def zoom_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factors = (np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
               np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03))[severity - 1]
    x = unit(x).astype(np.float32)
    out = np.zeros_like(x)
    for factor in factors:
        layer = clipped_zoom(x, factor)[:x.shape[0], :x.shape[1]]
        out[:layer.shape[0], :layer.shape[1]] += layer  # a pixel short where the zoom rounds down, as in the reference
    return np.clip((x + out) / (len(factors) + 1), 0, 1) * 255


# the family's corruptions, in ImageNet-C's order
BLUR: tuple[Corruption, ...] = (defocus_blur, glass_blur, motion_blur, zoom_blur)
