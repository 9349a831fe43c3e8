"""`verify_results` with a cache, for the leaderboard: a rebuild that finds nothing new recomputes nothing.

The cache's entries and one verification through them are in `cache_entries`; verifying the caller's upcoming files
ahead of it, in worker processes, in `verify_ahead`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imagenet_textcorrupt.results.cache_entries import CACHE_FORMAT, REFUSED, entry_path, verify_with_cache
from imagenet_textcorrupt.results.format import Results
from imagenet_textcorrupt.results.verify import verify_results
from imagenet_textcorrupt.results.verify_ahead import answer_ahead, serve

__all__ = ["CACHE_FORMAT", "REFUSED", "default_cache", "entry_path", "serve", "verify_results_cached"]


def verify_results_cached(path: str | Path, cache: str | Path | None = None,
                          upcoming: Sequence[str | Path] | None = None) -> tuple[Results, str]:
    """`verify_results(path)`, keeping the outcome of the recomputation of its metrics in the folder `cache`
    (None: no cache, verify_results itself). `upcoming`: the files the caller will ask about, in order, this one
    among them: they are verified ahead in worker processes when that pays (many or large predictions files)."""
    if cache is None:
        return verify_results(path)
    path = Path(path)
    if upcoming is not None:
        answer = answer_ahead(path, Path(cache), upcoming)
        if answer is not None:
            return answer.give()
    return verify_with_cache(path, Path(cache))


def default_cache() -> Path:
    """Where `imagenet-tc leaderboard` keeps verification outcomes unless told otherwise: <cache root>/leaderboard
    ($IMAGENET_TC_CACHE, else $XDG_CACHE_HOME/imagenet-tc, else ~/.cache/imagenet-tc)."""
    from imagenet_textcorrupt.cache import cache_root

    return cache_root() / "leaderboard"
