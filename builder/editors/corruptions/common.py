"""What every corruption module shares: the shape of a corruption function and the error a bad call raises."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from imagenet_textcorrupt.errors import ImageNetTCError

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]  # (uint8 HxWx3, severity, rng) -> float


class CorruptionError(ImageNetTCError, ValueError):
    """An image, corruption or severity that cannot be corrupted; names which."""
