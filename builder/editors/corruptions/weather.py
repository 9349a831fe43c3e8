"""ImageNet-C's weather corruptions: snow, frost, fog and brightness, with fog's plasma fractal and the
reference's frost photographs (not shipped: see `frost_images`)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
from PIL import Image

from builder.editors.corruptions.common import Corruption, CorruptionError
from builder.editors.corruptions.filters import clipped_zoom, grey, motion, resize_cubic_window, unit

FROST_DIR_VARIABLE = "IMAGENET_TC_FROST_DIR"
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")


def plasma_fractal(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """A size x size diamond-square height map in [0, 1] (size a power of two)."""
    field = np.zeros((size, size))
    step, wibble = size, 100.0

    def wibbled_mean(array: np.ndarray) -> np.ndarray:
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while step >= 2:
        half = step // 2
        corners = field[0:size:step, 0:size:step]
        squares = corners + np.roll(corners, shift=-1, axis=0)
        squares += np.roll(squares, shift=-1, axis=1)
        field[half:size:step, half:size:step] = wibbled_mean(squares)
        centres = field[half:size:step, half:size:step]
        corners = field[0:size:step, 0:size:step]
        across = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        field[0:size:step, half:size:step] = wibbled_mean(across)
        down = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        field[half:size:step, 0:size:step] = wibbled_mean(down)
        step //= 2
        wibble /= decay
    field -= field.min()
    return field / field.max()


def frost_images() -> list[Path]:
    """The reference's frost photographs: from IMAGENET_TC_FROST_DIR, else from an installed imagecorruptions."""
    folder = os.environ.get(FROST_DIR_VARIABLE)
    if not folder:
        spec = importlib.util.find_spec("imagecorruptions")  # finds the package without running it
        if spec is not None and spec.submodule_search_locations:
            folder = str(Path(next(iter(spec.submodule_search_locations))) / "frost")
    files = [Path(folder) / name for name in FROST_FILES] if folder else []
    missing = [f.name for f in files if not f.is_file()]
    if not files or missing:
        where = f"{folder} lacks {', '.join(missing)}" if folder else "none found"
        raise CorruptionError(f"frost overlays the reference's six frost photographs ({where}): install them with "
                              f"`pip install --no-deps imagecorruptions` or point {FROST_DIR_VARIABLE} at a folder "
                              f"holding {', '.join(FROST_FILES)}")
    return files


def frost_digest() -> str:
    """sha256 over the six frost pictures, in order: which pictures a frost row was made with."""
    import hashlib

    digest = hashlib.sha256()
    for file in frost_images():
        digest.update(file.read_bytes())
    return digest.hexdigest()


def snow(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = ((0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
         (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55))[severity - 1]
    x = np.asarray(x, dtype=np.float32) / 255.0
    layer = rng.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    layer = clipped_zoom(layer[..., None], c[2])
    layer[layer < c[3]] = 0
    layer = np.clip(layer[..., 0], 0, 1)
    layer = motion(layer, c[4], c[5], rng.uniform(-135, -45))
    layer = (np.round(layer * 255).astype(np.uint8) / 255.0)[..., None][:x.shape[0], :x.shape[1]]
    x = c[6] * x + (1 - c[6]) * np.maximum(x, grey(x)[..., None] * 1.5 + 0.5)
    out = x.astype(np.float64)
    out[:layer.shape[0], :layer.shape[1]] += layer + np.rot90(layer, k=2)
    return np.clip(out, 0, 1) * 255


def frost(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    mix_image, mix_frost = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))[severity - 1]
    choice = frost_images()[int(rng.integers(5))]  # the reference draws among the first five
    with Image.open(choice) as picture:
        overlay = picture.convert("RGB")
    height, width = x.shape[:2]
    scale = max(1.0, height / overlay.height, width / overlay.width) * 1.1  # always enlarged, by 10 % at least
    size = (int(np.ceil(overlay.width * scale)), int(np.ceil(overlay.height * scale)))
    top = int(rng.integers(0, size[1] - height))
    left = int(rng.integers(0, size[0] - width))
    crop = resize_cubic_window(np.asarray(overlay), size, top, left, height, width)  # only the part it keeps
    return np.clip(mix_image * np.asarray(x, dtype=np.float64) + mix_frost * crop.astype(np.float64), 0, 255)


def fog(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    strength, decay = ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))[severity - 1]
    height, width = x.shape[:2]
    x = unit(x)
    peak = x.max()
    size = 1 << (max(height, width) - 1).bit_length()
    x += strength * plasma_fractal(size, decay, rng)[:height, :width, None]
    return np.clip(x * peak / (peak + strength), 0, 1) * 255


def brightness(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    from skimage.color import hsv2rgb, rgb2hsv

    c = (0.1, 0.2, 0.3, 0.4, 0.5)[severity - 1]
    hsv = rgb2hsv(unit(x))
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return np.clip(hsv2rgb(hsv), 0, 1) * 255


# the family's corruptions, in ImageNet-C's order
WEATHER: tuple[Corruption, ...] = (snow, frost, fog, brightness)
