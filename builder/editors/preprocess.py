"""One preprocessing for originals and edits: the same square crop at the same resolution for both.

EXIF orientation is applied; grayscale, palette, CMYK, 16-bit and float images become 8-bit RGB; transparency is
composited over white; the centre square is cut and resized (with Lanczos) to the configured resolution, so an
image smaller than the crop is upsampled, and the metadata says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imagenet_textcorrupt.errors import ImageNetTCError


class ImageInputError(ImageNetTCError, ValueError):
    """An input image that cannot be read or used; the message names it."""


@dataclass(frozen=True)
class PreparedImage:
    image: Image.Image  # RGB, resolution x resolution
    original_size: tuple[int, int]  # (width, height) after EXIF orientation
    original_mode: str
    upsampled: bool  # the centre square was smaller than the resolution


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        if mode.startswith("I;16"):
            low, high = 0.0, 65535.0
        scaled = np.zeros_like(array) if high <= low else (array - low) / (high - low)
        return Image.fromarray(np.round(scaled * 255).astype(np.uint8), "L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if mode == "CMYK":
        return image.convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def prepare_image(source: Image.Image | str | Path, resolution: int, name: str | None = None) -> PreparedImage:
    """Read (if a path), orient, convert to RGB, centre-crop to a square and resize to `resolution`."""
    label = name or (str(source) if not isinstance(source, Image.Image) else "image")
    if resolution < 8 or resolution % 8:
        raise ImageInputError(f"resolution {resolution} must be a positive multiple of 8")
    try:
        image = Image.open(source) if not isinstance(source, Image.Image) else source
        image.load()
    except FileNotFoundError:
        raise ImageInputError(f"{label}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageInputError(f"{label}: cannot read the image ({error})") from None
    original_mode = image.mode
    try:
        image = ImageOps.exif_transpose(image)
    except (ValueError, TypeError, KeyError, OSError):
        pass  # a corrupt EXIF block should not lose the image: keep it as stored
    width, height = image.size
    if width == 0 or height == 0:
        raise ImageInputError(f"{label}: the image is empty ({width}x{height})")
    rgb = _to_rgb(image)
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = rgb.crop((left, top, left + side, top + side))
    if side != resolution:
        square = square.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return PreparedImage(square, (width, height), original_mode, side < resolution)


def image_to_tensor(images: list[Image.Image]) -> Any:
    """RGB PIL images -> a float tensor [N, 3, H, W] in [-1, 1]."""
    import torch

    array = np.stack([np.asarray(im, dtype=np.float32) for im in images]) / 127.5 - 1.0
    return torch.from_numpy(array).permute(0, 3, 1, 2).contiguous()


def tensor_to_images(tensor: Any) -> list[Image.Image]:
    """A tensor [N, 3, H, W] in [-1, 1] -> RGB PIL images (rounded, clipped)."""
    array = ((tensor.detach().float().clamp(-1, 1) + 1) * 127.5).round().to("cpu").numpy().astype(np.uint8)
    return [Image.fromarray(a.transpose(1, 2, 0), "RGB") for a in array]
