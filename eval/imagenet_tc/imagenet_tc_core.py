# Generated from imagenet_textcorrupt/metrics/paired.py by `python -m builder metric-space`:
# do not edit; the test suite checks that it is current.
"""The paired robustness metrics of one model on one config, in pure numpy: one implementation behind
`imagenet-tc evaluate`, the `evaluate` module in `eval/imagenet_tc/` (which carries a generated standalone copy of
this file), the report and the leaderboard.

Inputs are one entry per dataset row (`compute`). Every edit is scored against its own clean image (the row whose
`source_id` it shares and whose domain is "original"), so a subset of edits is always compared with the originals
of the same source images, never with one global clean accuracy. ImageNet-C rows rendered on the same source
images (domain = the corruption, `schema.CORRUPTION_DOMAINS`) are edits like any other, reported after the
text-guided domains; the headline figures ("edited", "by_severity", each group's "edited") are the text-guided
edits', and ImageNet-C's own ("imagenet_c", "imagenet_c_by_severity", each group's "imagenet_c") are beside them,
since its severities 1-5 are another scale.

Formulas (E = the edits of a subset, s(e) = the original of edit e, c(x) = 1 when row x is classified right):
- accuracy (top-1, top-5): mean of c over the rows;
- paired clean accuracy: mean over e in E of c(s(e)) (each edit counts its own original once);
- drop: paired clean accuracy minus edited accuracy = mean over E of c(s(e)) - c(e);
- relative robustness: edited accuracy / paired clean accuracy;
- flip rate: share of edits whose top-1 differs from their original's top-1, right or wrong
  (the flip probability of Hendrycks & Dietterich, ICLR 2019, for a single perturbation);
- top-1 errors by domain and severity: the inputs of the corruption errors (`metrics.corruption`); effective
  robustness, which needs several models, is in `metrics.effective`.

Confidence intervals are percentile bootstrap intervals (Efron & Tibshirani 1993) that resample *source images*
with replacement, so the edits of one image move together (a cluster bootstrap): edits of one photo are not
independent evidence. Every statistic above is a ratio of sums over source images, so one shared set of resampling
weights gives all intervals at once, consistently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

NUM_CLASSES = 1000  # imagenet_textcorrupt.classes.NUM_CLASSES
CORRUPTION_DOMAINS = ('gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur', 'snow', 'frost', 'fog', 'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression')  # imagenet_textcorrupt.schema.CORRUPTION_DOMAINS
DOMAINS = ('drawing', 'weather', 'color', 'texture', 'context')  # imagenet_textcorrupt.schema.DOMAINS
EDIT_DOMAINS = ('drawing', 'weather', 'color', 'texture', 'context', 'gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur', 'snow', 'frost', 'fog', 'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression')  # imagenet_textcorrupt.schema.EDIT_DOMAINS
ORIGINAL_DOMAIN = 'original'  # imagenet_textcorrupt.schema.ORIGINAL_DOMAIN


class ImageNetTCError(Exception):
    """imagenet_textcorrupt.errors.ImageNetTCError, in this standalone copy."""


# bump when a formula or the layout of `compute`'s result changes (1.1.0: ImageNet-C domains and their own blocks)
METRICS_VERSION = "1.1.0"
DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
_WEIGHTS_PER_BLOCK = 20_000_000  # bootstrap weights held in memory at once
_FLOAT32_EXACT = 2 ** 24  # float32 holds every integer below this exactly


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


# ------------------------------------------------------------------------------------------------ the bootstrap
class _Subset:
    """The rows of one subset: per source image, the sums of every per-row value over its rows in the subset."""

    def __init__(self, boot: _Bootstrap, mask: np.ndarray):
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


class _Bootstrap:
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

    def subset(self, mask: np.ndarray) -> _Subset:
        return _Subset(self, mask)

    def run(self) -> None:
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


def _codes(values: np.ndarray, ordered: bool = False) -> tuple[dict[str, int], np.ndarray]:
    """The distinct strings of a column ({string: code}, in sorted order when `ordered`, else in the order they
    first appear) and each row's code."""
    strings = values.tolist()
    distinct = sorted(set(strings)) if ordered else list(dict.fromkeys(strings))
    index = {value: code for code, value in enumerate(distinct)}
    return index, np.fromiter(map(index.__getitem__, strings), np.int64, len(strings))


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
    layout = _layout(predictions, references, domains, severities, source_ids, groups, templates,
                     config_predictions)
    rows, pair, clusters, sources = layout.rows, layout.rows.originals, layout.clusters, layout.sources

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
    # the per-row values the statistics sum: 1 per row, whether it is right, whether its original is right, drop
    # (original right minus edit right) and whether its top-1 differs from its original's
    values = {"rows": np.ones(len(rows.references))}
    for name, c in correct.items():
        values[name] = c
        values[f"clean_{name}"] = c[pair]
    values["drop"] = values["clean_top1"] - values["top1"]
    values["flipped"] = flipped
    boot = _Bootstrap(clusters, len(sources), resamples, confidence, seed, values, layout.plans.get(tuple(values)))

    def clean_block(mask: np.ndarray) -> dict[str, Any]:
        part = boot.subset(mask)
        block: dict[str, Any] = {"n": part.rows}
        for name in correct:
            part.add(block, name, name, "rows")
        return block

    def edit_block(mask: np.ndarray) -> dict[str, Any]:
        part = boot.subset(mask & edited)
        block: dict[str, Any] = {"n": part.rows, "sources": part.sources}
        for name in correct:
            part.add(block, name, name, "rows")
            part.add(block, f"clean_{name}", f"clean_{name}", "rows")
        part.add(block, "drop", "drop", "rows")
        part.add(block, "relative_robustness", "top1", "clean_top1")
        part.add(block, "flip_rate", "flipped", "rows")
        return block

    (domain_index, domain_codes), (group_index, group_codes), (template_index, template_codes) = layout.codes
    group_names, template_names = list(group_index), list(template_index)

    def equals(index: dict[str, int], codes: np.ndarray, value: str) -> np.ndarray:
        return codes == index[value] if value in index else np.zeros(len(codes), bool)

    def among(index: dict[str, int], codes: np.ndarray, values: tuple[str, ...]) -> np.ndarray:
        return np.isin(codes, [code for value, code in index.items() if value in values])

    # the headline figures are the text-guided edits'; ImageNet-C rows, on their own severity scale, get theirs
    guided = among(domain_index, domain_codes, DOMAINS)
    corrupted = among(domain_index, domain_codes, CORRUPTION_DOMAINS)
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
    for domain in [d for d in EDIT_DOMAINS if d in domain_index]:
        in_domain = equals(domain_index, domain_codes, domain)
        by_domain[domain] = edit_block(in_domain)
        by_domain_severity[domain] = {str(s): edit_block(in_domain & (rows.severities == s))
                                      for s in np.unique(rows.severities[in_domain]).tolist()}
    result["by_domain"] = by_domain
    result["by_severity"] = {str(s): edit_block(guided & (rows.severities == s))
                             for s in np.unique(rows.severities[guided]).tolist()}
    result["by_domain_severity"] = by_domain_severity
    result["by_group"] = {}
    for group in sorted({group_names[code] for code in np.unique(group_codes[edited]).tolist()} - {""}):
        in_group = equals(group_index, group_codes, group)
        result["by_group"][group] = {"clean": clean_block(original & in_group),
                                     "edited": edit_block(in_group & guided)}
        if corrupted.any():
            result["by_group"][group]["imagenet_c"] = edit_block(in_group & corrupted)
    result["by_template"] = {}
    domain_names = list(domain_index)
    pairs = np.unique(domain_codes[edited] * len(template_names) + template_codes[edited]).tolist()
    for domain, template in sorted({(domain_names[p // len(template_names)], template_names[p % len(template_names)])
                                    for p in pairs} - {(d, "") for d in domain_names}):
        mask = equals(domain_index, domain_codes, domain) & equals(template_index, template_codes, template)
        result["by_template"][f"{domain}: {template}"] = edit_block(mask)
    boot.run()
    layout.plans[tuple(values)] = boot.planned
    result["errors"] = errors_by_domain(result)
    return result


@dataclass
class _Layout:
    """What `compute` derives from the rows alone, whatever the predictions: validated, each edit paired with its
    original, the source images numbered in sorted order (the order the resampling weights are drawn in), the
    strings as codes, and each subset's rows (`plans`, by the values summed). Results of many models on one dataset
    share it: the last one is kept, for inputs given as lists of plain values."""

    inputs: tuple[Any, ...]  # references, domains, severities, source_ids, groups, templates, as given
    rows: Rows  # validated; the predictions of the call that made it
    sources: list[str]
    clusters: np.ndarray
    codes: tuple[tuple[dict[str, int], np.ndarray], ...]  # domains, groups, templates
    plans: dict[tuple[str, ...], list[tuple]]


_LAYOUT: list[_Layout] = []
_PLAIN = ({int}, {str}, {int}, {str}, {str, type(None)}, {str, type(None)})  # the element types a kept layout takes


def _plain(inputs: tuple[Any, ...]) -> bool:
    return all(value is None and k >= 4 or type(value) is list and set(map(type, value)) <= kinds
               for k, (value, kinds) in enumerate(zip(inputs, _PLAIN)))


def _layout(predictions: Any, references: Any, domains: Any, severities: Any, source_ids: Any, groups: Any,
            templates: Any, config_predictions: Any) -> _Layout:
    """validate_rows' Rows, and what compute derives from them; the last call's when its rows were the same (equal
    lists of the same plain types), with only the predictions checked again, in validate_rows' order (the rows'
    checks, before and after the predictions', passed then)."""
    inputs = (references, domains, severities, source_ids, groups, templates)
    plain = _plain(inputs)
    if plain and _LAYOUT and all(a == b for a, b in zip(_LAYOUT[0].inputs, inputs)):
        kept = _LAYOUT[0]
        n = len(kept.rows.references)
        predicted = _as_ranked("predictions", predictions, n)
        restricted = None if config_predictions is None else _as_ranked("config_predictions", config_predictions, n)
        return _Layout(kept.inputs, replace(kept.rows, predictions=predicted, config_predictions=restricted),
                       kept.sources, kept.clusters, kept.codes, kept.plans)
    rows = validate_rows(predictions, references, domains, severities, source_ids, groups, templates,
                         config_predictions)
    source_index, clusters = _codes(rows.source_ids, ordered=True)
    layout = _Layout(tuple(list(v) if v is not None else None for v in inputs) if plain else (), rows,
                     list(source_index), clusters, (_codes(rows.domains), _codes(rows.groups), _codes(rows.templates)),
                     {})
    _LAYOUT[:] = [layout] if plain else []
    return layout


def errors_by_domain(result: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Top-1 error rates by domain and severity: the inputs of the corruption error (the clean error, which the
    relative mCE also needs, is 1 - result["clean"]["top1"])."""
    errors: dict[str, dict[str, float]] = {}
    for domain, severities in result["by_domain_severity"].items():
        errors[domain] = {s: 1.0 - block["top1"]["value"] for s, block in severities.items()
                          if block["top1"]["value"] is not None}
    return errors
