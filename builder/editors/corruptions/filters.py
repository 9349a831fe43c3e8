"""The image operations the corruptions share, as the reference computes them: its OpenCV calls written out by
their definitions (cv2.filter2D, cv2.GaussianBlur's kernel, cv2.resize with INTER_CUBIC, RGB to grey) and its
scikit-image and scipy calls with the reference's arguments. Images are float arrays unless a function says
otherwise."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64) / 255.0


def gaussian(x: np.ndarray, sigma: float | tuple[float, ...], mode: str = "nearest", truncate: float = 4.0
              ) -> np.ndarray:
    """skimage.filters.gaussian as the reference calls it (channels not blurred together)."""
    sigmas = (sigma, sigma, 0) if np.ndim(sigma) == 0 and x.ndim == 3 else sigma
    return ndimage.gaussian_filter(x, sigmas, mode=mode, truncate=truncate)


def correlate_reflect101(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """cv2.filter2D(x, -1, kernel) per channel: correlation, centred anchor, reflect-101 borders (scipy's "mirror").
    Direct, not by FFT: a flat region must stay exactly flat, or the cast to uint8 drops it a level."""
    return np.stack([ndimage.correlate(x[..., k], kernel, mode="mirror") for k in range(x.shape[2])], axis=-1)


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """cv2.getGaussianKernel."""
    offsets = np.arange(size) - (size - 1) / 2
    kernel = np.exp(-offsets ** 2 / (2 * sigma ** 2))
    return kernel / kernel.sum()


def clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """The centre of x zoomed by `factor` (bilinear), about the size of x (a pixel less where it rounds down)."""
    ch0 = int(np.ceil(x.shape[0] / factor))
    ch1 = int(np.ceil(x.shape[1] / factor))
    top0, top1 = (x.shape[0] - ch0) // 2, (x.shape[1] - ch1) // 2
    return ndimage.zoom(x[top0:top0 + ch0, top1:top1 + ch1], (factor, factor, 1), order=1)


def shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Shift by (dx, dy) pixels, repeating the edge row or column into the space left behind."""
    shifted = image
    if dx < 0:
        shifted = np.roll(image, shift=image.shape[1] + dx, axis=1)
        shifted[:, dx:] = shifted[:, dx - 1:dx]
    elif dx > 0:
        shifted = np.roll(image, shift=dx, axis=1)
        shifted[:, :dx] = shifted[:, dx:dx + 1]
    if dy < 0:
        shifted = np.roll(shifted, shift=image.shape[0] + dy, axis=0)
        shifted[dy:, :] = shifted[dy - 1:dy, :]
    elif dy > 0:
        shifted = np.roll(shifted, shift=dy, axis=0)
        shifted[:dy, :] = shifted[dy:dy + 1, :]
    return shifted


def motion(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """A one-sided Gaussian motion blur along `angle` (degrees), as a weighted sum of shifted copies."""
    width = 2 * radius + 1
    kernel = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    point = (width * math.sin(math.radians(angle)), width * math.cos(math.radians(angle)))
    hypot = math.hypot(*point)
    blurred = np.zeros(x.shape, dtype=np.float64)
    for i in range(width):
        dy = -math.ceil(i * point[0] / hypot - 0.5)
        dx = -math.ceil(i * point[1] / hypot - 0.5)
        if abs(dy) >= x.shape[0] or abs(dx) >= x.shape[1]:
            break  # the motion left the image
        blurred += kernel[i] * shift(x, dx, dy)
    return blurred


def cubic_taps(source: int, target: int, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The four source pixels and their weights that make pixels start..start+count-1 of a line resized from
    `source` to `target` pixels as cv2.resize(INTER_CUBIC) does: pixel centres aligned ((i + 0.5) * source / target
    - 0.5), Keys' cubic convolution kernel with a = -0.75 (Pillow's bicubic has a = -0.5), edge pixels repeated."""
    a = -0.75
    centres = (np.arange(start, start + count) + 0.5) * (source / target) - 0.5
    left = np.floor(centres)
    fraction = centres - left
    distance = np.stack([fraction + 1, fraction, 1 - fraction, 2 - fraction], axis=1)
    weights = np.where(distance <= 1, ((a + 2) * distance - (a + 3)) * distance ** 2 + 1,
                       ((a * distance - 5 * a) * distance + 8 * a) * distance - 4 * a)
    return np.clip(left.astype(np.int64)[:, None] + np.arange(-1, 3), 0, source - 1), weights


def resize_cubic_window(image: np.ndarray, size: tuple[int, int], top: int, left: int, height: int, width: int
                         ) -> np.ndarray:
    """The height x width window at (top, left) of cv2.resize(image, size, interpolation=INTER_CUBIC) for a uint8
    H x W x C image, computed for that window only: rows then columns in float64, rounded to the nearest level (ties
    to even) and clipped to uint8. OpenCV's x86-64 wheels (through Intel IPP) compute it in float32, so a value
    within about 1e-5 of a half level may round the other way there: a few pixels in a million one level apart."""
    rows, row_weights = cubic_taps(image.shape[0], size[1], top, height)
    cols, col_weights = cubic_taps(image.shape[1], size[0], left, width)
    picked = image[rows.ravel()]  # (height * 4) x W x C: the four rows each output row reads
    across = sum(picked[:, cols[:, k]] * col_weights[:, k, None] for k in range(4))  # (height * 4) x width x C
    across = across.reshape(height, 4, width, -1)
    down = sum(across[:, k] * row_weights[:, k, None, None] for k in range(4))
    return np.clip(np.rint(down), 0, 255).astype(np.uint8)


def grey(x: np.ndarray) -> np.ndarray:
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
