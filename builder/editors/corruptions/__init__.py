"""The 15 ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019) at their 5 severities, for any image size:
one validated entry point, `corrupt(image, corruption, severity, seed)`, over a registry of same-shaped functions.

The definitions and constants follow the reference code (hendrycks/robustness `make_imagenet_c.py`, as generalised
to any image size by the `imagecorruptions` package, whose 1.1.2 release does not run under this project's pins:
it imports cv2, `numpy.float_`, `scipy.ndimage.interpolation`, skimage's `multichannel=` and pkg_resources). It is
written here with numpy, scipy, scikit-image and Pillow only, with the reference's OpenCV calls replaced by their
definitions (cv2.filter2D = correlation with reflect-101 borders, cv2.GaussianBlur = a separable Gaussian kernel,
RGB to grey = 0.299 R + 0.587 G + 0.114 B, cv2.resize(INTER_CUBIC) = Keys' cubic convolution with a = -0.75 on
pixel centres, edge pixels repeated; tests/test_corruptions.py checks them against the reference and OpenCV). Two
departures, both deliberate: every random draw comes from a generator seeded per row (the reference uses numpy's
global state), so a row is the same on every machine and rerun; and `frost` overlays the reference's frost
photographs, which are not shipped here: they are read from an installed `imagecorruptions` package (its data
files, without importing it) or from IMAGENET_TC_FROST_DIR, and `frost_digest()` identifies them.

The constants are ImageNet-C's, in pixels of its 224 x 224 images: the editor corrupts at that side (IMAGENET_C_SIDE)
so that a blur radius or a noise grain means what it means in ImageNet-C, whatever the release's resolution.

As in the reference, the output is the corrupted float image cast to uint8 (truncated, not rounded).
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from imagenet_textcorrupt.errors import ImageNetTCError, UnknownNameError, closest

SEVERITIES = (1, 2, 3, 4, 5)
IMAGENET_C_SIDE = 224  # the side of ImageNet-C's images, which its constants are in pixels of
MIN_SIDE = 32  # the reference refuses smaller images
FROST_DIR_VARIABLE = "IMAGENET_TC_FROST_DIR"
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]  # (uint8 HxWx3, severity, rng) -> float
CORRUPTIONS: dict[str, Corruption] = {}
FAMILIES: dict[str, str] = {}  # corruption -> noise, blur, weather or digital


class CorruptionError(ImageNetTCError, ValueError):
    """An image, corruption or severity that cannot be corrupted; names which."""


def _register(family: str) -> Callable[[Corruption], Corruption]:
    def register(function: Corruption) -> Corruption:
        CORRUPTIONS[function.__name__] = function
        FAMILIES[function.__name__] = family
        return function
    return register


# ------------------------------------------------------------------------------------------------------ helpers
def _unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64) / 255.0


def _gaussian(x: np.ndarray, sigma: float | tuple[float, ...], mode: str = "nearest", truncate: float = 4.0
              ) -> np.ndarray:
    """skimage.filters.gaussian as the reference calls it (channels not blurred together)."""
    sigmas = (sigma, sigma, 0) if np.ndim(sigma) == 0 and x.ndim == 3 else sigma
    return ndimage.gaussian_filter(x, sigmas, mode=mode, truncate=truncate)


def _correlate_reflect101(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """cv2.filter2D(x, -1, kernel) per channel: correlation, centred anchor, reflect-101 borders (scipy's "mirror").
    Direct, not by FFT: a flat region must stay exactly flat, or the cast to uint8 drops it a level."""
    return np.stack([ndimage.correlate(x[..., k], kernel, mode="mirror") for k in range(x.shape[2])], axis=-1)


def _gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """cv2.getGaussianKernel."""
    offsets = np.arange(size) - (size - 1) / 2
    kernel = np.exp(-offsets ** 2 / (2 * sigma ** 2))
    return kernel / kernel.sum()


def _disk(radius: int, alias_blur: float) -> np.ndarray:
    side = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    size = 3 if radius <= 8 else 5
    xx, yy = np.meshgrid(side, side)
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float32)  # float32, as the reference's kernel
    disk /= disk.sum()
    smooth = _gaussian_kernel_1d(size, alias_blur)  # cv2.GaussianBlur(disk, (size, size), alias_blur)
    return _correlate_reflect101(disk[..., None], np.outer(smooth, smooth))[..., 0].astype(np.float32)


def _clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """The centre of x zoomed by `factor` (bilinear), about the size of x (a pixel less where it rounds down)."""
    ch0 = int(np.ceil(x.shape[0] / factor))
    ch1 = int(np.ceil(x.shape[1] / factor))
    top0, top1 = (x.shape[0] - ch0) // 2, (x.shape[1] - ch1) // 2
    return ndimage.zoom(x[top0:top0 + ch0, top1:top1 + ch1], (factor, factor, 1), order=1)


def _shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
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


def _motion(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
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
        blurred += kernel[i] * _shift(x, dx, dy)
    return blurred


def _cubic_taps(source: int, target: int, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
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


def _resize_cubic_window(image: np.ndarray, size: tuple[int, int], top: int, left: int, height: int, width: int
                         ) -> np.ndarray:
    """The height x width window at (top, left) of cv2.resize(image, size, interpolation=INTER_CUBIC) for a uint8
    H x W x C image, computed for that window only: rows then columns in float64, rounded to the nearest level (ties
    to even) and clipped to uint8. OpenCV's x86-64 wheels (through Intel IPP) compute it in float32, so a value
    within about 1e-5 of a half level may round the other way there: a few pixels in a million one level apart."""
    rows, row_weights = _cubic_taps(image.shape[0], size[1], top, height)
    cols, col_weights = _cubic_taps(image.shape[1], size[0], left, width)
    picked = image[rows.ravel()]  # (height * 4) x W x C: the four rows each output row reads
    across = sum(picked[:, cols[:, k]] * col_weights[:, k, None] for k in range(4))  # (height * 4) x width x C
    across = across.reshape(height, 4, width, -1)
    down = sum(across[:, k] * row_weights[:, k, None, None] for k in range(4))
    return np.clip(np.rint(down), 0, 255).astype(np.uint8)


def _grey(x: np.ndarray) -> np.ndarray:
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


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


# -------------------------------------------------------------------------------------------------- noise
@_register("noise")
def gaussian_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = (0.08, 0.12, 0.18, 0.26, 0.38)[severity - 1]
    x = _unit(x)
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1) * 255


@_register("noise")
def shot_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = (60, 25, 12, 5, 3)[severity - 1]
    return np.clip(rng.poisson(_unit(x) * c) / c, 0, 1) * 255


@_register("noise")
def impulse_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: a share `c` of the values flipped, half to 1 and half to 0 (skimage's "s&p")."""
    c = (0.03, 0.06, 0.09, 0.17, 0.27)[severity - 1]
    x = _unit(x)
    flipped = rng.random(x.shape) < c
    salted = rng.random(x.shape) < 0.5
    x[flipped & salted] = 1.0
    x[flipped & ~salted] = 0.0
    return x * 255


# --------------------------------------------------------------------------------------------------- blur
@_register("blur")
def defocus_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, alias = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))[severity - 1]
    return np.clip(_correlate_reflect101(_unit(x), _disk(radius, alias)), 0, 1) * 255


@_register("blur")
def glass_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blur, then give each pixel a random neighbour's value (bottom-right to top-left, `iterations` times), blur.

    The reference writes a swap, `x[h, w], x[h', w'] = x[h', w'], x[h, w]`, but x[h', w'] and x[h, w] are views of
    three channels, so the second assignment copies back what the first wrote: the neighbour's pixel is copied, not
    swapped. ImageNet-C was made that way, so it is done that way here."""
    sigma, delta, iterations = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))[severity - 1]
    blurred = (_gaussian(_unit(x), sigma) * 255).astype(np.uint8)
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
    return np.clip(_gaussian(shuffled / 255.0, sigma), 0, 1) * 255


@_register("blur")
def motion_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, sigma = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))[severity - 1]
    return np.clip(_motion(np.asarray(x, dtype=np.float64), radius, sigma, rng.uniform(-45, 45)), 0, 255)


@_register("blur")
def zoom_blur(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factors = (np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
               np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03))[severity - 1]
    x = _unit(x).astype(np.float32)
    out = np.zeros_like(x)
    for factor in factors:
        layer = _clipped_zoom(x, factor)[:x.shape[0], :x.shape[1]]
        out[:layer.shape[0], :layer.shape[1]] += layer  # a pixel short where the zoom rounds down, as in the reference
    return np.clip((x + out) / (len(factors) + 1), 0, 1) * 255


# ------------------------------------------------------------------------------------------------ weather
@_register("weather")
def snow(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = ((0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
         (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55))[severity - 1]
    x = np.asarray(x, dtype=np.float32) / 255.0
    layer = rng.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    layer = _clipped_zoom(layer[..., None], c[2])
    layer[layer < c[3]] = 0
    layer = np.clip(layer[..., 0], 0, 1)
    layer = _motion(layer, c[4], c[5], rng.uniform(-135, -45))
    layer = (np.round(layer * 255).astype(np.uint8) / 255.0)[..., None][:x.shape[0], :x.shape[1]]
    x = c[6] * x + (1 - c[6]) * np.maximum(x, _grey(x)[..., None] * 1.5 + 0.5)
    out = x.astype(np.float64)
    out[:layer.shape[0], :layer.shape[1]] += layer + np.rot90(layer, k=2)
    return np.clip(out, 0, 1) * 255


@_register("weather")
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
    crop = _resize_cubic_window(np.asarray(overlay), size, top, left, height, width)  # only the part it keeps
    return np.clip(mix_image * np.asarray(x, dtype=np.float64) + mix_frost * crop.astype(np.float64), 0, 255)


@_register("weather")
def fog(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    strength, decay = ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))[severity - 1]
    height, width = x.shape[:2]
    x = _unit(x)
    peak = x.max()
    size = 1 << (max(height, width) - 1).bit_length()
    x += strength * plasma_fractal(size, decay, rng)[:height, :width, None]
    return np.clip(x * peak / (peak + strength), 0, 1) * 255


@_register("weather")
def brightness(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    from skimage.color import hsv2rgb, rgb2hsv

    c = (0.1, 0.2, 0.3, 0.4, 0.5)[severity - 1]
    hsv = rgb2hsv(_unit(x))
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    return np.clip(hsv2rgb(hsv), 0, 1) * 255


# ------------------------------------------------------------------------------------------------ digital
@_register("digital")
def contrast(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = (0.4, 0.3, 0.2, 0.1, 0.05)[severity - 1]
    x = _unit(x)
    means = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


@_register("digital")
def elastic_transform(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Each pixel moved by a smooth random field (Gaussian-filtered uniform noise), bilinear, reflected borders."""
    alpha = 250 * (0.05, 0.065, 0.085, 0.1, 0.12)[severity - 1]
    x = np.asarray(x, dtype=np.float32) / 255.0
    height, width = x.shape[:2]
    sigma = (height * 0.01, width * 0.01)
    most = height * 0.005
    dx = (_gaussian(rng.uniform(-most, most, size=(height, width)), sigma, "reflect", 3) * alpha).astype(np.float32)
    dy = (_gaussian(rng.uniform(-most, most, size=(height, width)), sigma, "reflect", 3) * alpha).astype(np.float32)
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    coordinates = np.stack([rows + dy, cols + dx])
    moved = np.stack([ndimage.map_coordinates(x[..., k], coordinates, order=1, mode="reflect")
                      for k in range(x.shape[2])], axis=-1)
    return np.clip(moved, 0, 1) * 255


@_register("digital")
def pixelate(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = (0.6, 0.5, 0.4, 0.3, 0.25)[severity - 1]
    height, width = x.shape[:2]
    small = Image.fromarray(x).resize((int(width * c), int(height * c)), Image.BOX)
    return np.asarray(small.resize((width, height), Image.NEAREST), dtype=np.float64)


@_register("digital")
def jpeg_compression(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    quality = (25, 18, 15, 10, 7)[severity - 1]
    buffer = io.BytesIO()
    Image.fromarray(x).save(buffer, "JPEG", quality=quality)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.float64)


# ----------------------------------------------------------------------------------------------- entry point
def corruption_names(family: str | None = None) -> list[str]:
    """The 15 corruptions in ImageNet-C's order (noise, blur, weather, digital), or those of one family."""
    return [name for name in CORRUPTIONS if family is None or FAMILIES[name] == family]


def check_corruption(corruption: str, severity: int | None = None) -> None:
    """Raises a clear error for an unknown corruption or a severity outside 1-5."""
    if corruption not in CORRUPTIONS:
        raise UnknownNameError("corruption", corruption, closest(corruption, CORRUPTIONS) or list(CORRUPTIONS))
    if severity is not None and (isinstance(severity, bool) or severity not in SEVERITIES):
        raise CorruptionError(f"{corruption}: severity {severity!r} is not one of 1, 2, 3, 4, 5")


def corrupt(image: Image.Image | np.ndarray, corruption: str, severity: int, seed: int) -> Image.Image:
    """`image` (RGB, at least 32 x 32) corrupted by one ImageNet-C corruption at a severity from 1 to 5; the same
    seed gives the same image."""
    check_corruption(corruption, severity)
    if isinstance(image, Image.Image):
        image = image if image.mode == "RGB" else image.convert("RGB")
    array = np.array(image)  # a writable copy: the corruptions may work in place
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):  # grey, as the reference: three equal channels
        array = np.repeat(array.reshape(array.shape[0], array.shape[1], 1), 3, axis=2)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise CorruptionError(f"{corruption}: expected an RGB or grey uint8 image (H x W x 3 or H x W), got "
                              f"{array.dtype} {array.shape}")
    if min(array.shape[:2]) < MIN_SIDE:
        raise CorruptionError(f"{corruption}: the image is {array.shape[1]} x {array.shape[0]}; ImageNet-C needs at "
                              f"least {MIN_SIDE} x {MIN_SIDE}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CorruptionError(f"{corruption}: seed {seed!r} is not an integer >= 0")
    rng = np.random.default_rng(seed)
    out = CORRUPTIONS[corruption](array, severity, rng)
    return Image.fromarray(np.uint8(np.clip(out, 0, 255)), "RGB")
