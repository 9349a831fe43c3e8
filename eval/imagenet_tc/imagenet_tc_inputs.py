# Generated from imagenet_textcorrupt/metrics/inputs.py by `python -m builder metric-space`:
# do not edit; the test suite checks that it is current.
"""The inputs of the paired metrics, checked: one entry per dataset row (ranked predictions, label, domain,
severity, source image, group, template), every edit paired with its original row (`validate_rows`), and the
error that names the argument and the first row that cannot be scored (`MetricInputError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

NUM_CLASSES = 1000  # imagenet_textcorrupt.classes.NUM_CLASSES
EDIT_DOMAINS = ('drawing', 'weather', 'color', 'texture', 'context', 'gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur', 'snow', 'frost', 'fog', 'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression')  # imagenet_textcorrupt.schema.EDIT_DOMAINS
ORIGINAL_DOMAIN = 'original'  # imagenet_textcorrupt.schema.ORIGINAL_DOMAIN


class ImageNetTCError(Exception):
    """imagenet_textcorrupt.errors.ImageNetTCError, in this standalone copy."""


class MetricInputError(ImageNetTCError, ValueError):
    """Inputs to the metrics that cannot be scored: the message names the argument and the row."""


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


def as_ranked(name: str, values: Any, n: int | None) -> np.ndarray:
    """Per row its ranked class indices, as an (n, k) integer array; refuses ragged, non-integer or out-of-range
    ones, naming `name` and the row."""
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
    predicted = as_ranked("predictions", predictions, n)
    restricted = None if config_predictions is None else as_ranked("config_predictions", config_predictions, n)
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
