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

The package: `common` (the function type and the error), `filters` (the image operations, as the reference computes
them), and one module per family in ImageNet-C's order: `noise`, `blur`, `weather`, `digital`; here, the registry
(`CORRUPTIONS`, `FAMILIES`) and the entry point.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from builder.editors.corruptions.blur import BLUR, defocus_blur, glass_blur, motion_blur, zoom_blur
from builder.editors.corruptions.common import Corruption, CorruptionError
from builder.editors.corruptions.digital import DIGITAL, contrast, elastic_transform, jpeg_compression, pixelate
from builder.editors.corruptions.noise import NOISE, gaussian_noise, impulse_noise, shot_noise
from builder.editors.corruptions.weather import (FROST_DIR_VARIABLE, FROST_FILES, WEATHER, brightness, fog, frost,
                                                 frost_digest, frost_images, plasma_fractal, snow)
from imagenet_textcorrupt.errors import UnknownNameError, closest

__all__ = [
    "SEVERITIES", "IMAGENET_C_SIDE", "MIN_SIDE", "FROST_DIR_VARIABLE", "FROST_FILES", "Corruption", "CorruptionError",
    "CORRUPTIONS", "FAMILIES", "corruption_names", "check_corruption", "corrupt", "frost_images", "frost_digest",
    "plasma_fractal", "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
]

SEVERITIES = (1, 2, 3, 4, 5)
IMAGENET_C_SIDE = 224  # the side of ImageNet-C's images, which its constants are in pixels of
MIN_SIDE = 32  # the reference refuses smaller images

_BY_FAMILY = {"noise": NOISE, "blur": BLUR, "weather": WEATHER, "digital": DIGITAL}  # ImageNet-C's order
CORRUPTIONS: dict[str, Corruption] = {f.__name__: f for functions in _BY_FAMILY.values() for f in functions}
FAMILIES: dict[str, str] = {f.__name__: family for family, functions in _BY_FAMILY.items() for f in functions}


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
