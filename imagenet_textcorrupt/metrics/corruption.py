"""ImageNet-C's corruption errors (Hendrycks & Dietterich, ICLR 2019) over ImageNet-TC's domains, and the mCE of one
result against a reference model's.

CE_d = sum_s E_{s,d} / sum_s E^ref_{s,d} per domain d over severities s; mCE = 100 x the mean of CE_d over
domains; relative mCE uses E_{s,d} - E_clean in place of E_{s,d}: how much accuracy the corruption costs, against
what it costs the reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from imagenet_textcorrupt.metrics.inputs import MetricInputError
from imagenet_textcorrupt.schema import domain_order, severity_order

if TYPE_CHECKING:
    from imagenet_textcorrupt.results.format import Results

ErrorTable = Mapping[str, Sequence[float] | Mapping[Any, float]]


def _aligned(errors: ErrorTable, reference_errors: ErrorTable) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per domain the model's and the reference's errors over the same severities."""
    if not errors:
        raise MetricInputError("errors is empty: no domain to score")
    missing = sorted(set(errors) - set(reference_errors))
    if missing:
        raise MetricInputError(f"the reference has no errors for domain {missing[0]!r}; it has "
                               f"{', '.join(sorted(reference_errors)) or 'none'}")
    table = []
    for domain in errors:
        ours, theirs = errors[domain], reference_errors[domain]
        if isinstance(ours, Mapping) != isinstance(theirs, Mapping):
            raise MetricInputError(f"domain {domain!r}: give both error lists by severity, or both as mappings")
        if isinstance(ours, Mapping):
            keys = sorted(ours, key=str)
            absent = [k for k in keys if k not in theirs]
            if absent or len(theirs) != len(ours):
                raise MetricInputError(f"domain {domain!r}: severities differ: {sorted(map(str, ours))} against the "
                                       f"reference's {sorted(map(str, theirs))}")
            pair = (np.array([ours[k] for k in keys], float), np.array([theirs[k] for k in keys], float))
        else:
            pair = (np.asarray(ours, float), np.asarray(theirs, float))
            if pair[0].shape != pair[1].shape:
                raise MetricInputError(f"domain {domain!r}: {len(pair[0])} severities against the reference's "
                                       f"{len(pair[1])}")
        for name, values in zip(("errors", "reference_errors"), pair):
            if not np.all(np.isfinite(values)) or np.any((values < 0) | (values > 1)):
                raise MetricInputError(f"{name}[{domain!r}]: error rates are fractions in [0, 1], got "
                                       f"{values.tolist()}")
        table.append((domain, *pair))
    return table


def corruption_errors(errors: ErrorTable, reference_errors: ErrorTable) -> dict[str, float]:
    """CE per domain: the model's errors summed over severities over the reference model's sum, times 100."""
    out = {}
    for domain, ours, theirs in _aligned(errors, reference_errors):
        if theirs.sum() == 0:
            raise MetricInputError(f"reference_errors[{domain!r}] are all zero: the corruption error is undefined")
        out[domain] = 100.0 * float(ours.sum() / theirs.sum())
    return out


def mean_corruption_error(errors: ErrorTable, reference_errors: ErrorTable) -> float:
    """ImageNet-C's mCE: the mean over domains of CE_d = sum_s E_{s,d} / sum_s E^ref_{s,d}, times 100.

    errors, reference_errors: domain -> error rates (fractions) by severity, as a list or a {severity: error} map.
    The mean runs over the model's domains; the reference must have each of them with the same severities.
    """
    return float(np.mean(list(corruption_errors(errors, reference_errors).values())))


def relative_mean_corruption_error(errors: ErrorTable, clean_error: float, reference_errors: ErrorTable,
                                   reference_clean_error: float) -> float:
    """ImageNet-C's relative mCE: the mean over domains of sum_s (E_{s,d} - E_clean) / sum_s (E^ref_{s,d} -
    E^ref_clean), times 100: how much accuracy is lost to the corruption, against what the reference loses."""
    values = []
    for domain, ours, theirs in _aligned(errors, reference_errors):
        lost = float((theirs - reference_clean_error).sum())
        if lost == 0:
            raise MetricInputError(f"the reference loses no accuracy on domain {domain!r}: relative CE is undefined")
        values.append(100.0 * float((ours - clean_error).sum()) / lost)
    return float(np.mean(values))


def shared_errors(errors: Mapping[str, Mapping[str, float]], reference_errors: Mapping[str, Mapping[str, float]]
                  ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], list[str]]:
    """The model's and the reference's error tables cut to the (domain, severity) cells both have, and the cells
    left out, named."""
    ours: dict[str, dict[str, float]] = {}
    theirs: dict[str, dict[str, float]] = {}
    skipped = []
    for domain in sorted(set(errors) | set(reference_errors), key=domain_order):
        a, b = errors.get(domain) or {}, reference_errors.get(domain) or {}
        both = sorted(set(a) & set(b), key=severity_order)
        for severity in sorted(set(a) ^ set(b), key=severity_order):
            skipped.append(f"{domain} severity {severity} (only the {'model' if severity in a else 'reference'} "
                           f"has it)")
        if both:
            ours[domain] = {s: a[s] for s in both}
            theirs[domain] = {s: b[s] for s in both}
    return ours, theirs, skipped


@dataclass
class CorruptionErrors:
    """mCE and relative mCE of one result (times 100; None where undefined), the cells left out, and why a figure
    could not be computed."""

    mce: float | None
    relative_mce: float | None
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def corruption_error(results: Results, reference: Results, domains: Sequence[str] | None = None
                     ) -> CorruptionErrors:
    """mCE and relative mCE of one result against the reference's, over the cells both have (of `domains` only,
    when given: the text-guided domains and ImageNet-C's corruptions are averaged apart)."""
    def kept(errors: Mapping[str, Mapping[str, float]]) -> dict[str, Mapping[str, float]]:
        return {d: cells for d, cells in errors.items() if domains is None or d in domains}

    ours, theirs, skipped = shared_errors(kept(results.metrics.errors), kept(reference.metrics.errors))
    if not ours:
        return CorruptionErrors(None, None, skipped, ["no domain and severity in common with the reference"])
    problems: list[str] = []
    mce = relative = None
    try:
        mce = mean_corruption_error(ours, theirs)
    except MetricInputError as error:
        problems.append(f"mCE: {error}")
    clean, reference_clean = (r.metrics.clean.get("top1") for r in (results, reference))
    if clean is None or clean.value is None or reference_clean is None or reference_clean.value is None:
        problems.append("relative mCE: no clean top-1")
    else:
        try:
            relative = relative_mean_corruption_error(ours, 1.0 - clean.value, theirs, 1.0 - reference_clean.value)
        except MetricInputError as error:
            problems.append(f"relative mCE: {error}")
    return CorruptionErrors(mce, relative, skipped, problems)
