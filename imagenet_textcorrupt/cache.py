"""Where ImageNet-TC keeps what it can recompute (tiny test models, zero-shot class embeddings)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "IMAGENET_TC_CACHE"


def cache_root() -> Path:
    """$IMAGENET_TC_CACHE, else $XDG_CACHE_HOME/imagenet-tc, else ~/.cache/imagenet-tc."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "imagenet-tc"
