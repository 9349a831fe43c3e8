# Generated from imagenet_textcorrupt/metrics/bootstrap.py by `python -m builder metric-space`:
# do not edit; the test suite checks that it is current.
"""The cluster bootstrap of the paired metrics: percentile intervals (Efron & Tibshirani 1993) of ratio statistics
under resampling of source images with replacement, so that the edits of one image move together.

Every statistic is a ratio of sums of per-row values over a subset of rows; a subset's per-source sums are gathered
once (`Subset`) and the weighted sums of every statistic of every subset come out of one matrix product per block
of resamples (`Bootstrap.run`). The resampling weights depend only on the seed and the counts, and the last draw
is kept for the next call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .imagenet_tc_inputs import MetricInputError

_WEIGHTS_PER_BLOCK = 20_000_000  # bootstrap weights held in memory at once
_FLOAT32_EXACT = 2 ** 24  # float32 holds every integer below this exactly
_DRAWN: dict[tuple[int, int, int, type], list[tuple[int, np.ndarray]]] = {}  # the last resampling weights drawn
_DRAWN_KEPT = 4_000_000  # weights kept for the next call (at most 48 MB); larger draws are made again


def _resampling_weights(seed: int, n_clusters: int, resamples: int, dtype: type = np.float64
                        ) -> list[tuple[int, np.ndarray]]:
    """(first resample, how many times each source image is drawn in each resample) per block of resamples, as
    `dtype`. They depend only on the seed and the counts, not on the predictions: results on one dataset share them,
    so the last draw is kept (the leaderboard recomputes many results with the same seed)."""
    key = (seed, n_clusters, resamples, dtype)
    if key in _DRAWN:
        return _DRAWN[key]
    rng = np.random.default_rng(seed)
    block = max(1, _WEIGHTS_PER_BLOCK // max(n_clusters, 1))
    uniform = np.full(n_clusters, 1.0 / n_clusters)
    drawn = []
    for start in range(0, resamples, block):
        weights = rng.multinomial(n_clusters, uniform, size=min(block, resamples - start)).astype(dtype)
        weights.flags.writeable = False
        drawn.append((start, weights))
    if n_clusters * resamples <= _DRAWN_KEPT:
        for kept in [k for k in _DRAWN if k[:3] != key[:3]]:
            del _DRAWN[kept]
        _DRAWN[key] = drawn
    return drawn


class Subset:
    """The rows of one subset: per source image, the sums of every per-row value over its rows in the subset."""

    def __init__(self, boot: Bootstrap, mask: np.ndarray):
        self.boot = boot
        width = len(boot.names)
        planned = boot.plan[len(boot.blocks)] if len(boot.blocks) < len(boot.plan) else None
        if planned is not None and planned[2] == int(np.count_nonzero(mask)):  # the same rows as the last call's
            rows, keys, self.rows, self.sources = planned
        else:
            rows = np.flatnonzero(mask)
            keys = (boot.clusters[rows, None] * width + np.arange(width)).ravel()
            self.rows = int(len(rows))
            self.sources = int(np.count_nonzero(np.bincount(boot.clusters[rows], minlength=boot.n_clusters)))
        boot.planned.append((rows, keys, self.rows, self.sources))
        sums = np.bincount(keys, weights=boot.values[rows].ravel(), minlength=boot.n_clusters * width)
        self.offset = len(boot.blocks) * width
        boot.blocks.append(sums.reshape(boot.n_clusters, width))

    def add(self, into: dict[str, Any], key: str, numerator: str, denominator: str) -> None:
        """Registers the sum of the per-row value `numerator` over the sum of `denominator` (names of values);
        `run` writes its estimate to into[key]."""
        names = self.boot.names
        self.boot.stats.append((into, key, self.offset + names[numerator], self.offset + names[denominator]))


class Bootstrap:
    """Point estimates and percentile intervals of ratio statistics sum(numerator) / sum(denominator) under
    resampling of source images. Each statistic sums a per-row value (`values`, one column per name) over the rows
    of a subset; a subset's per-source sums are gathered once, and the weighted sums of every statistic of every
    subset come out of one matrix product per block of resamples.

    The per-row values are integers (a row is right or not, drop is -1, 0 or 1) and so are the resampling weights,
    so every sum is an exact integer whatever the order of the additions: the figures are the same to the last bit
    as summing statistic by statistic, and float32 is used for the product wherever its sums stay exact."""

    def __init__(self, clusters: np.ndarray, n_clusters: int, resamples: int, confidence: float, seed: int,
                 values: Mapping[str, np.ndarray] | None = None, plan: list[tuple] | None = None):
        if not 0 < confidence < 1:
            raise MetricInputError(f"confidence must be between 0 and 1, got {confidence}")
        if resamples < 0:
            raise MetricInputError(f"resamples must be 0 (no intervals) or more, got {resamples}")
        self.clusters = clusters
        self.n_clusters = n_clusters
        self.resamples = resamples
        self.confidence = confidence
        self.seed = seed
        values = values or {}
        self.names = {name: column for column, name in enumerate(values)}
        self.values = np.stack([np.asarray(v, np.float64) for v in values.values()], 1) if values else \
            np.zeros((len(clusters), 0))
        self.blocks: list[np.ndarray] = []  # per subset, (n_clusters, len(names)) sums of the values per source
        # per subset, (its rows, their places in its block, how many, how many source images): `plan` is the last
        # call's on the same rows (reused), `planned` this call's
        self.plan, self.planned = plan or [], []
        self.stats: list[tuple[dict[str, Any], str, int, int]] = []  # into, key, numerator, denominator columns

    def subset(self, mask: np.ndarray) -> Subset:
        """The rows of `mask`, whose statistics are then registered with `Subset.add`."""
        return Subset(self, mask)

    def run(self) -> None:
        """Computes every registered statistic: its point estimate and percentile interval, written where it was
        registered."""
        if not self.stats:
            return
        sums = np.concatenate(self.blocks, axis=1)
        count = len(self.stats)
        wanted = np.array([s[2] for s in self.stats] + [s[3] for s in self.stats], dtype=np.int64)
        used, where = np.unique(wanted, return_inverse=True)
        sums = sums[:, used]
        numerators, denominators = where[:count], where[count:]
        totals = sums.sum(axis=0)
        replicates = np.empty((count, self.resamples))  # a statistic's resamples side by side: quantiles are fast
        if self.resamples:
            # |weighted sum| <= n_clusters * max |per-source sum|: float32 holds every partial sum exactly below
            exact32 = self.n_clusters * max(float(sums.max()), -float(sums.min())) < _FLOAT32_EXACT
            dtype = np.float32 if exact32 else np.float64
            matrix = sums.astype(dtype)
            for start, weights in _resampling_weights(self.seed, self.n_clusters, self.resamples, dtype):
                weighted = (weights @ matrix).astype(np.float64)
                with np.errstate(invalid="ignore", divide="ignore"):
                    replicates[:, start:start + len(weights)] = (weighted[:, numerators] / weighted[:, denominators]).T
        alpha = (1 - self.confidence) / 2
        low, high = np.full(count, math.nan), np.full(count, math.nan)
        # a resample whose denominator is 0 (relative robustness when no clean image is right) has no value: it is
        # left out of the interval
        finite = np.isfinite(replicates)
        whole = finite.all(axis=1) if self.resamples else np.zeros(count, bool)
        if whole.any():  # sorted first: the same quantiles (the same values at the same ranks), found faster
            low[whole], high[whole] = np.quantile(np.sort(replicates[whole], axis=1), [alpha, 1 - alpha], axis=1)
        partial = np.flatnonzero(~whole)
        if len(partial):  # each statistic's finite draws first, sorted; those with as many draws together
            draws = np.sort(np.where(finite[partial], replicates[partial], np.nan), axis=1)  # NaN sorts last
            counts = finite[partial].sum(axis=1)
            for count_ in np.unique(counts[counts > 0]).tolist():
                same = counts == count_
                low[partial[same]], high[partial[same]] = np.quantile(draws[same, :count_], [alpha, 1 - alpha],
                                                                      axis=1)
        for column, (into, key, _, _) in enumerate(self.stats):
            total = totals[denominators[column]]
            value = totals[numerators[column]] / total if total else math.nan
            into[key] = {"value": _num(value), "ci_low": _num(low[column]), "ci_high": _num(high[column])}


def _num(value: float) -> float | None:
    """JSON has no NaN: an undefined figure is None."""
    return None if value is None or not math.isfinite(value) else float(value)
