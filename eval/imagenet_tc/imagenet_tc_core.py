# Generated from imagenet_textcorrupt/metrics/paired.py by `python -m builder metric-space`:
# do not edit; the test suite checks that it is current.
"""The paired robustness metrics of one model on one config, in pure numpy: one implementation behind
`imagenet-tc evaluate`, the `evaluate` module in `eval/imagenet_tc/` (which carries a generated standalone copy of
this file and of the two it builds on, `metrics.inputs` and `metrics.bootstrap`), the report and the leaderboard.

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
weights gives all intervals at once, consistently (`metrics.bootstrap`). The inputs are checked, and each edit
paired with its original, by `metrics.inputs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .imagenet_tc_bootstrap import Bootstrap
from .imagenet_tc_inputs import MetricInputError, Rows, as_ranked, validate_rows

CORRUPTION_DOMAINS = ('gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur', 'snow', 'frost', 'fog', 'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression')  # imagenet_textcorrupt.schema.CORRUPTION_DOMAINS
DOMAINS = ('drawing', 'weather', 'color', 'texture', 'context')  # imagenet_textcorrupt.schema.DOMAINS
EDIT_DOMAINS = ('drawing', 'weather', 'color', 'texture', 'context', 'gaussian_noise', 'shot_noise', 'impulse_noise', 'defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur', 'snow', 'frost', 'fog', 'brightness', 'contrast', 'elastic_transform', 'pixelate', 'jpeg_compression')  # imagenet_textcorrupt.schema.EDIT_DOMAINS

# bump when a formula or the layout of `compute`'s result changes (1.1.0: ImageNet-C domains and their own blocks)
METRICS_VERSION = "1.1.0"
DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95

__all__ = ["DEFAULT_CONFIDENCE", "DEFAULT_RESAMPLES", "METRICS_VERSION", "MetricInputError", "Rows", "compute",
           "errors_by_domain", "validate_rows"]


def _codes(values: np.ndarray, ordered: bool = False) -> tuple[dict[str, int], np.ndarray]:
    """The distinct strings of a column ({string: code}, in sorted order when `ordered`, else in the order they
    first appear) and each row's code."""
    strings = values.tolist()
    distinct = sorted(set(strings)) if ordered else list(dict.fromkeys(strings))
    index = {value: code for code, value in enumerate(distinct)}
    return index, np.fromiter(map(index.__getitem__, strings), np.int64, len(strings))


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
    boot = Bootstrap(clusters, len(sources), resamples, confidence, seed, values, layout.plans.get(tuple(values)))

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
        predicted = as_ranked("predictions", predictions, n)
        restricted = None if config_predictions is None else as_ranked("config_predictions", config_predictions, n)
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
