"""The slow reference of the paired metrics: imagenet_textcorrupt/metrics/paired.py as it was at commit 23075743bee0,
before its bootstrap was gathered into one matrix product, kept unchanged (tests/test_metrics_reference.py checks
that the library computes the same figures to the last bit). Each statistic's resampled sums come from its own
matrix product over the source images its subset touches, and each interval from its own quantile call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from imagenet_textcorrupt.classes import NUM_CLASSES
from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS, DOMAINS, EDIT_DOMAINS, ORIGINAL_DOMAIN

# bump when a formula or the layout of `compute`'s result changes (1.1.0: ImageNet-C domains and their own blocks)
METRICS_VERSION = "1.1.0"
DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
_WEIGHTS_PER_BLOCK = 20_000_000  # bootstrap weights held in memory at once


class MetricInputError(ImageNetTCError, ValueError):
    """Inputs to the metrics that cannot be scored: the message names the argument and the row."""


# --------------------------------------------------------------------------------------------- validated inputs
@dataclass(frozen=True)
class Rows:
    """Validated per-row inputs. `predictions` is (n, k): ranked class indices, column 0 the top-1."""

    predictions: np.ndarray
    references: np.ndarray
    domains: np.ndarray
    severities: np.ndarray
    source_ids: np.ndarray
    groups: np.ndarray
    templates: np.ndarray
    config_predictions: np.ndarray | None  # (n, k') ranked among the config's classes only
    originals: np.ndarray  # per row, the index of its source image's original row (itself for originals)

    @property
    def is_original(self) -> np.ndarray:
        return self.domains == ORIGINAL_DOMAIN


def _as_ranked(name: str, values: Any, n: int | None) -> np.ndarray:
    try:
        array = np.asarray(values)
    except ValueError as error:  # ragged lists
        raise MetricInputError(f"{name}: every row needs the same number of ranked classes ({error})") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise MetricInputError(f"{name}: expected one class index per row, or a list of ranked class indices per "
                               f"row; got an array of shape {array.shape}")
    if n is not None and len(array) != n:
        raise MetricInputError(f"{name} has {len(array)} rows but references has {n}")
    if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise MetricInputError(f"{name}: class indices must be integers, got {array.dtype}")
    _check_range(name, array)
    return array.astype(np.int64)


def _check_range(name: str, array: np.ndarray) -> None:
    bad = np.flatnonzero(((array < 0) | (array >= NUM_CLASSES)).reshape(len(array), -1).any(axis=1))
    if len(bad):
        row = int(bad[0])
        raise MetricInputError(f"{name}: row {row} has class index {array[row].tolist()} outside 0..{NUM_CLASSES - 1} "
                               f"({len(bad)} rows out of range)")


def _strings(name: str, values: Any, n: int) -> np.ndarray:
    array = np.asarray(["" if v is None else str(v) for v in values], dtype=object)
    if len(array) != n:
        raise MetricInputError(f"{name} has {len(array)} rows but references has {n}")
    return array


def validate_rows(predictions: Any, references: Any, domains: Any, severities: Any, source_ids: Any,
                  groups: Any = None, templates: Any = None, config_predictions: Any = None) -> Rows:
    """Checks the per-row inputs and pairs every edit with its original; raises MetricInputError naming the
    argument and the first offending row."""
    references = np.asarray(references)
    if references.ndim != 1:
        raise MetricInputError(f"references: expected one class index per row, got shape {references.shape}")
    n = len(references)
    if n == 0:
        raise MetricInputError("no rows to score: references is empty")
    if references.dtype.kind not in "iu":
        raise MetricInputError(f"references: class indices must be integers, got {references.dtype}")
    _check_range("references", references[:, None])
    predicted = _as_ranked("predictions", predictions, n)
    restricted = None if config_predictions is None else _as_ranked("config_predictions", config_predictions, n)
    domain = _strings("domains", domains, n)
    known = {ORIGINAL_DOMAIN, *EDIT_DOMAINS}
    unknown = sorted(set(domain) - known)
    if unknown:
        row = int(np.flatnonzero(domain == unknown[0])[0])
        raise MetricInputError(f"domains: unknown domain {unknown[0]!r} at row {row}; the domains are "
                               f"{', '.join(sorted(known))}")
    severity = np.asarray(severities)
    if len(severity) != n:
        raise MetricInputError(f"severities has {len(severity)} rows but references has {n}")
    if severity.dtype.kind not in "iu":
        raise MetricInputError(f"severities: expected integers, got {severity.dtype}")
    original = domain == ORIGINAL_DOMAIN
    wrong = np.flatnonzero(np.where(original, severity != 0, severity < 1))
    if len(wrong):
        row = int(wrong[0])
        raise MetricInputError(f"severities: row {row} has domain {domain[row]!r} and severity {int(severity[row])}; "
                               f"originals have severity 0 and edits a severity of 1 or more")
    source = _strings("source_ids", source_ids, n)
    group = _strings("groups", groups if groups is not None else [""] * n, n)
    template = _strings("templates", templates if templates is not None else [""] * n, n)
    references = references.astype(np.int64)
    return Rows(predicted, references, domain, severity.astype(np.int64), source, group, template, restricted,
                _pair(source, original, references))


def _pair(source_ids: np.ndarray, original: np.ndarray, references: np.ndarray) -> np.ndarray:
    """For each row the index of its original; checks there is exactly one original per source image."""
    originals, counts = np.unique(source_ids[original], return_counts=True)
    if len(originals) and counts.max() > 1:
        duplicate = originals[int(np.argmax(counts))]
        raise MetricInputError(f"source_ids: {duplicate!r} has {counts.max()} original rows; each source image has "
                               f"exactly one row with domain {ORIGINAL_DOMAIN!r}")
    position = dict(zip(source_ids[original].tolist(), np.flatnonzero(original).tolist()))
    missing = sorted({s for s in source_ids[~original].tolist() if s not in position})
    if missing:
        shown = ", ".join(repr(s) for s in missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise MetricInputError(f"{len(missing)} source images have edits but no original row ({shown}); the paired "
                               f"metrics compare each edit with its clean image, so include the rows with domain "
                               f"{ORIGINAL_DOMAIN!r}")
    pair = np.array([position[s] for s in source_ids.tolist()], dtype=np.int64)
    mismatch = np.flatnonzero(references != references[pair])
    if len(mismatch):
        row = int(mismatch[0])
        raise MetricInputError(f"references: row {row} (source {source_ids[row]!r}) has label "
                               f"{int(references[row])} but its original has {int(references[pair[row]])}")
    return pair


# ------------------------------------------------------------------------------------------------ the bootstrap
class _Bootstrap:
    """Point estimates and percentile intervals of ratio statistics sum(numerator) / sum(denominator) under
    resampling of source images. Statistics are registered per subset of rows so that each subset's resampling
    weights are gathered once and all its statistics come out of one matrix product."""

    def __init__(self, clusters: np.ndarray, n_clusters: int, resamples: int, confidence: float, seed: int):
        if not 0 < confidence < 1:
            raise MetricInputError(f"confidence must be between 0 and 1, got {confidence}")
        if resamples < 0:
            raise MetricInputError(f"resamples must be 0 (no intervals) or more, got {resamples}")
        self.clusters = clusters
        self.n_clusters = n_clusters
        self.resamples = resamples
        self.confidence = confidence
        self.seed = seed
        # per subset: the source images it touches, and its statistics (into, key, numerator, denominator)
        self.subsets: list[tuple[np.ndarray, list[tuple[dict[str, Any], str, np.ndarray, np.ndarray]]]] = []

    def subset(self, mask: np.ndarray) -> list[tuple[dict[str, Any], str, np.ndarray, np.ndarray]]:
        support = np.flatnonzero(np.bincount(self.clusters[mask], minlength=self.n_clusters))
        stats: list[tuple[dict[str, Any], str, np.ndarray, np.ndarray]] = []
        self.subsets.append((support, stats))
        return stats

    def add(self, stats: list, into: dict[str, Any], key: str, numerator: np.ndarray, denominator: np.ndarray
            ) -> None:
        """Registers sum(numerator) / sum(denominator) (per-row arrays); `run` writes its estimate to into[key]."""
        size = self.n_clusters
        stats.append((into, key, np.bincount(self.clusters, weights=numerator, minlength=size),
                      np.bincount(self.clusters, weights=denominator, minlength=size)))

    def run(self) -> None:
        replicates = [np.empty((self.resamples, len(stats))) for _, stats in self.subsets]
        sums = [(np.stack([s[2][support] for s in stats], 1), np.stack([s[3][support] for s in stats], 1))
                for support, stats in self.subsets]
        rng = np.random.default_rng(self.seed)
        block = max(1, _WEIGHTS_PER_BLOCK // max(self.n_clusters, 1))
        uniform = np.full(self.n_clusters, 1.0 / self.n_clusters)
        for start in range(0, self.resamples, block):
            count = min(block, self.resamples - start)
            # how many times each source image is drawn in each resample
            weights = rng.multinomial(self.n_clusters, uniform, size=count).astype(np.float64)
            for (support, _), (numerators, denominators), out in zip(self.subsets, sums, replicates):
                w = weights[:, support]
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[start:start + count] = (w @ numerators) / (w @ denominators)
        alpha = (1 - self.confidence) / 2
        for (_, stats), out in zip(self.subsets, replicates):
            for column, (into, key, numerator, denominator) in enumerate(stats):
                total = denominator.sum()
                value = numerator.sum() / total if total else math.nan
                low = high = math.nan
                # a resample whose denominator is 0 (relative robustness when no clean image is right) has no
                # value: it is left out of the interval
                draws = out[:, column][np.isfinite(out[:, column])]
                if len(draws):
                    low, high = np.quantile(draws, [alpha, 1 - alpha])
                into[key] = {"value": _num(value), "ci_low": _num(low), "ci_high": _num(high)}


def _num(value: float) -> float | None:
    """JSON has no NaN: an undefined figure is None."""
    return None if value is None or not math.isfinite(value) else float(value)


# ----------------------------------------------------------------------------------------------- the aggregate
def compute(predictions: Any, references: Any, domains: Any, severities: Any, source_ids: Any, groups: Any = None,
            templates: Any = None, config_predictions: Any = None, resamples: int = DEFAULT_RESAMPLES,
            confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> dict[str, Any]:
    """Every metric of one model on one config, with bootstrap intervals.

    predictions: per row a class index, or ranked class indices (top-5 needs at least 5).
    config_predictions: the same ranked over the config's classes only (logits of the other classes masked), for
        the accuracies "over the config's classes"; omitted when not given.
    Each estimate is {"value", "ci_low", "ci_high"} with values as fractions in [0, 1].
    """
    rows = validate_rows(predictions, references, domains, severities, source_ids, groups, templates,
                         config_predictions)
    pair = rows.originals
    sources, clusters = np.unique(rows.source_ids, return_inverse=True)
    boot = _Bootstrap(clusters, len(sources), resamples, confidence, seed)

    correct = {"top1": rows.predictions[:, 0] == rows.references}
    if rows.predictions.shape[1] >= 5:
        correct["top5"] = (rows.predictions[:, :5] == rows.references[:, None]).any(axis=1)
    if rows.config_predictions is not None:
        correct["top1_config"] = rows.config_predictions[:, 0] == rows.references
        if rows.config_predictions.shape[1] >= 5:
            correct["top5_config"] = (rows.config_predictions[:, :5] == rows.references[:, None]).any(axis=1)
    correct = {name: c.astype(np.float64) for name, c in correct.items()}
    original = rows.is_original
    edited = ~original
    flipped = (rows.predictions[:, 0] != rows.predictions[pair, 0]).astype(np.float64)

    def clean_block(mask: np.ndarray) -> dict[str, Any]:
        block: dict[str, Any] = {"n": int(mask.sum())}
        stats, weight = boot.subset(mask), mask.astype(np.float64)
        for name, c in correct.items():
            boot.add(stats, block, name, c * weight, weight)
        return block

    def edit_block(mask: np.ndarray) -> dict[str, Any]:
        mask = mask & edited
        stats, weight = boot.subset(mask), mask.astype(np.float64)
        block: dict[str, Any] = {"n": int(mask.sum()), "sources": int(len(np.unique(clusters[mask])))}
        for name, c in correct.items():
            boot.add(stats, block, name, c * weight, weight)
            boot.add(stats, block, f"clean_{name}", c[pair] * weight, weight)
        top1, clean_top1 = correct["top1"], correct["top1"][pair]
        boot.add(stats, block, "drop", (clean_top1 - top1) * weight, weight)
        boot.add(stats, block, "relative_robustness", top1 * weight, clean_top1 * weight)
        boot.add(stats, block, "flip_rate", flipped * weight, weight)
        return block

    # the headline figures are the text-guided edits'; ImageNet-C rows, on their own severity scale, get theirs
    guided = np.isin(rows.domains, DOMAINS)
    corrupted = np.isin(rows.domains, CORRUPTION_DOMAINS)
    result: dict[str, Any] = {
        "metrics_version": METRICS_VERSION,
        "counts": {"rows": int(len(rows.references)), "sources": int(len(sources)),
                   "originals": int(original.sum()), "edits": int(guided.sum())},
        "bootstrap": {"unit": "source image", "resamples": int(resamples), "confidence": float(confidence),
                      "seed": int(seed)},
        "clean": clean_block(original),
        "edited": edit_block(guided),
    }
    if corrupted.any():
        result["counts"]["imagenet_c"] = int(corrupted.sum())
        result["imagenet_c"] = edit_block(corrupted)
        result["imagenet_c_by_severity"] = {str(s): edit_block(corrupted & (rows.severities == s))
                                            for s in np.unique(rows.severities[corrupted]).tolist()}
    by_domain: dict[str, Any] = {}
    by_domain_severity: dict[str, Any] = {}
    for domain in [d for d in EDIT_DOMAINS if (rows.domains == d).any()]:
        in_domain = rows.domains == domain
        by_domain[domain] = edit_block(in_domain)
        by_domain_severity[domain] = {str(s): edit_block(in_domain & (rows.severities == s))
                                      for s in np.unique(rows.severities[in_domain]).tolist()}
    result["by_domain"] = by_domain
    result["by_severity"] = {str(s): edit_block(guided & (rows.severities == s))
                             for s in np.unique(rows.severities[guided]).tolist()}
    result["by_domain_severity"] = by_domain_severity
    result["by_group"] = {}
    for group in sorted(set(rows.groups[edited].tolist()) - {""}):
        in_group = rows.groups == group
        result["by_group"][group] = {"clean": clean_block(original & in_group),
                                     "edited": edit_block(in_group & guided)}
        if corrupted.any():
            result["by_group"][group]["imagenet_c"] = edit_block(in_group & corrupted)
    result["by_template"] = {}
    for domain, template in sorted({(d, t) for d, t in zip(rows.domains[edited], rows.templates[edited]) if t}):
        mask = (rows.domains == domain) & (rows.templates == template)
        result["by_template"][f"{domain}: {template}"] = edit_block(mask)
    boot.run()
    result["errors"] = errors_by_domain(result)
    return result


def errors_by_domain(result: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Top-1 error rates by domain and severity: the inputs of the corruption error (the clean error, which the
    relative mCE also needs, is 1 - result["clean"]["top1"])."""
    errors: dict[str, dict[str, float]] = {}
    for domain, severities in result["by_domain_severity"].items():
        errors[domain] = {s: 1.0 - block["top1"]["value"] for s, block in severities.items()
                          if block["top1"]["value"] is not None}
    return errors
