"""sha256 of files, read in chunks: shard manifests, checkpoints, predictions files and release fingerprints."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def update_with_file(digest: Any, path: str | Path) -> Any:
    """Feeds a file's bytes into a hashlib object; returns it."""
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    return update_with_file(hashlib.sha256(), path).hexdigest()
