"""Provenance shared by results, releases and leaderboards: the library versions behind a file and one UTC
timestamp format for when it was made."""

from __future__ import annotations

import datetime as _dt
import platform

RESULT_LIBRARIES = ("imagenet-textcorrupt", "torch", "torchvision", "timm", "transformers", "open_clip_torch",
                    "datasets", "numpy", "pillow")


def library_versions(names: tuple[str, ...] = RESULT_LIBRARIES) -> dict[str, str]:
    """Python's version and the installed versions of the libraries that shape a result (or a release)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def utc_timestamp() -> str:
    """Now, in UTC, to the second: 2026-11-30T20:53:07Z."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
