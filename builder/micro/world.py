"""The micro world: a procedural family of captioned images, small enough to train a text-to-image model on two CPU
cores, with the structure the editors act on (an object with a colour and a shape, on a background).

An image is one object (circle, square, triangle or star) in one colour (red, green, blue or yellow) on one
background (plain, grass, sky, stripes or snow), captioned "a red star on grass" ("... on a plain background" for
plain). Everything is drawn from a seed: the same seed gives the same pixels, mask and caption. Object colours are
saturated and backgrounds are not (saturation below 0.45 everywhere), which is what lets the micro classifier
(`classify.py`) find the object by its saturation alone. Shapes are drawn upright (squares axis-aligned), centred
with a jitter, at 4x the size and downsampled, so edges are antialiased like a real image's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
SUPERSAMPLE = 4
SHAPES = ("circle", "square", "triangle", "star")
COLOURS = {"red": (214, 38, 38), "green": (34, 164, 52), "blue": (40, 70, 214), "yellow": (236, 204, 28)}
BACKGROUNDS = ("plain", "grass", "sky", "stripes", "snow")
_BACKGROUND_WORDS = {"plain": "a plain background"}
STAR_INNER = 0.45  # the inner radius of the five-pointed star, as a share of the outer one


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    background: str
    size: float  # the object's outer radius, as a share of the image side
    centre: tuple[float, float]  # as shares of the image side

    @property
    def caption(self) -> str:
        return caption(self.colour, self.shape, self.background)


def caption(colour: str, shape: str, background: str) -> str:
    """"a red star on grass"."""
    return f"a {colour} {shape} on {_BACKGROUND_WORDS.get(background, background)}"


def random_scene(rng: np.random.Generator, shape: str | None = None, colour: str | None = None,
                 background: str | None = None) -> Scene:
    """A scene with the given attributes (the others drawn from `rng`)."""
    return Scene(shape or str(rng.choice(SHAPES)), colour or str(rng.choice(list(COLOURS))),
                 background or str(rng.choice(BACKGROUNDS)), float(rng.uniform(0.24, 0.32)),
                 (float(0.5 + rng.uniform(-0.08, 0.08)), float(0.5 + rng.uniform(-0.08, 0.08))))


def _background(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    if kind == "plain":
        return np.full((size, size, 3), 205.0) + rng.uniform(-8, 8, 3)
    if kind == "sky":
        top, bottom = np.array([150.0, 185.0, 230.0]), np.array([215.0, 230.0, 245.0])
        return top + (bottom - top) * y[..., None]
    if kind == "grass":
        base = np.array([112.0, 140.0, 92.0])
        blades = np.sin(2 * math.pi * (x * rng.uniform(9, 13) + rng.uniform(0, 1))) * np.sin(
            2 * math.pi * (y * rng.uniform(2, 4) + x * 0.7))
        return base + blades[..., None] * np.array([14.0, 18.0, 10.0]) + rng.normal(0, 5, (size, size, 1))
    if kind == "stripes":
        period = rng.uniform(0.12, 0.2)
        band = (np.floor((x + y * rng.uniform(-0.5, 0.5)) / period) % 2)[..., None]
        return np.where(band > 0, 215.0, 140.0) * np.ones(3)
    if kind == "snow":
        snow = np.full((size, size, 3), 238.0) + rng.normal(0, 4, (size, size, 1))
        flakes = rng.random((size, size)) < 0.02
        snow[flakes] = 185.0
        return snow
    raise ValueError(f"unknown background {kind!r}; expected one of {', '.join(BACKGROUNDS)}")


def _polygon(scene: Scene, side: int) -> list[tuple[float, float]]:
    cx, cy = scene.centre[0] * side, scene.centre[1] * side
    r = scene.size * side
    if scene.shape == "square":
        h = r / math.sqrt(2)
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    points = 3 if scene.shape == "triangle" else 10
    radii = [r] * 3 if scene.shape == "triangle" else [r if i % 2 == 0 else r * STAR_INNER for i in range(10)]
    return [(cx + radius * math.sin(2 * math.pi * i / points), cy - radius * math.cos(2 * math.pi * i / points))
            for i, radius in enumerate(radii)]


def object_mask(scene: Scene, size: int = SIZE) -> np.ndarray:
    """The object's coverage of each pixel, in [0, 1] (antialiased)."""
    side = size * SUPERSAMPLE
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    if scene.shape == "circle":
        cx, cy, r = scene.centre[0] * side, scene.centre[1] * side, scene.size * side
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        draw.polygon(_polygon(scene, side), fill=255)
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float64) / 255.0


def render(scene: Scene, seed: int, size: int = SIZE) -> Image.Image:
    """The scene's image; `seed` draws the background's texture."""
    rng = np.random.default_rng(seed)
    background = _background(scene.background, rng, size)
    cover = object_mask(scene, size)[..., None]
    shade = np.array(COLOURS[scene.colour], dtype=np.float64) + rng.normal(0, 3, (size, size, 1))
    pixels = background * (1 - cover) + shade * cover
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def sample(seed: int, size: int = SIZE, **fixed: str) -> tuple[Image.Image, Scene]:
    """One image of the world and its scene, from `seed` alone (attributes in `fixed` are not drawn)."""
    rng = np.random.default_rng(seed)
    scene = random_scene(rng, fixed.get("shape"), fixed.get("colour"), fixed.get("background"))
    return render(scene, int(rng.integers(2**31)), size), scene
