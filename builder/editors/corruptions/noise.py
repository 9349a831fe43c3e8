"""ImageNet-C's noise corruptions: gaussian_noise, shot_noise and impulse_noise."""

from __future__ import annotations

import numpy as np

from builder.editors.corruptions.common import Corruption
from builder.editors.corruptions.filters import unit


def gaussian_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = (0.08, 0.12, 0.18, 0.26, 0.38)[severity - 1]
    x = unit(x)
    return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1) * 255


def shot_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = (60, 25, 12, 5, 3)[severity - 1]
    return np.clip(rng.poisson(unit(x) * c) / c, 0, 1) * 255


def impulse_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: a share `c` of the values flipped, half to 1 and half to 0 (skimage's "s&p")."""
    c = (0.03, 0.06, 0.09, 0.17, 0.27)[severity - 1]
    x = unit(x)
    flipped = rng.random(x.shape) < c
    salted = rng.random(x.shape) < 0.5
    x[flipped & salted] = 1.0
    x[flipped & ~salted] = 0.0
    return x * 255


# the family's corruptions, in ImageNet-C's order
NOISE: tuple[Corruption, ...] = (gaussian_noise, shot_noise, impulse_noise)
