"""The source study's protocol: the figures its `evaluate.py` computed (Mofayezi & Medghalchi, github
ckoorosh/RobuText), from the same predictions as our paired metrics, so that its table can be set beside ours
(`imagenet-tc evaluate --protocol study`, `imagenet-tc compare-study`).

The study scored each domain as a folder of images (torchvision's ImageFolder): top-1 over the 1000 outputs, every
image of the domain counted once, with no pairing to its original; the originals as saved were one more folder.
Its "Average" is the mean of the five edited domains' top-1 (not the top-1 over all edits pooled). Here:

- `top1[D]` for D in Original, Color, Context, Drawing, Weather, Texture (the study's column names; ours are
  the lowercase domains): the share of the rows of that domain whose top-1 is the label, over all 1000 classes;
- `top1["Average"]`: the mean of the edited domains' top-1, over those the release holds (`average_of` names
  them; the study's own table averages all five);
- each with a 95% percentile bootstrap interval that resamples source images, with the resampling weights of
  `metrics.compute` (same seed, same source order): a domain's interval is the one `by_domain` gives its top-1,
  and the Average's is the mean taken within each resample.

Stored in a results file under the optional top-level key `study_protocol`; verification recomputes it from the
predictions (`differences`) like the metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from imagenet_textcorrupt.schema import ORIGINAL_DOMAIN

PROTOCOL = "study"
ORIGINAL = "Original"
AVERAGE = "Average"
# the study's column names (its result.csv header, in its order) and our domains
STUDY_DOMAINS: dict[str, str] = {ORIGINAL: ORIGINAL_DOMAIN, "Color": "color", "Context": "context",
                                 "Drawing": "drawing", "Weather": "weather", "Texture": "texture"}
EDITED_COLUMNS = tuple(c for c in STUDY_DOMAINS if c != ORIGINAL)
COLUMNS = (*STUDY_DOMAINS, AVERAGE)  # the study's table: Model, then these
DESCRIPTION = ("the source study's evaluate.py: top-1 over the 1000 outputs per domain, every row of the domain "
               "counted, unpaired; Average = the mean of the edited domains' top-1")
_CONFIDENCE = 0.95
_WEIGHTS_PER_BLOCK = 20_000_000  # as metrics.bootstrap: the same blocks give the same draws


def _draws(seed: int, n_sources: int, resamples: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first resample, times each source image is drawn) per block: the draws `metrics.compute` makes."""
    rng = np.random.default_rng(seed)
    block = max(1, _WEIGHTS_PER_BLOCK // max(n_sources, 1))
    uniform = np.full(n_sources, 1.0 / n_sources)
    for start in range(0, resamples, block):
        yield start, rng.multinomial(n_sources, uniform, size=min(block, resamples - start)).astype(np.float64)


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def compute_study_figures(top1: Sequence[int], labels: Sequence[int], domains: Sequence[str],
                          source_ids: Sequence[str], resamples: int, seed: int = 0) -> dict[str, Any]:
    """The study's figures from per-row top-1 classes, labels, domains and source ids (fractions in [0, 1])."""
    top1_array, label_array = np.asarray(top1, np.int64), np.asarray(labels, np.int64)
    domain_array = np.asarray(domains, dtype=object)
    sources = sorted(set(source_ids))
    index = {source: i for i, source in enumerate(sources)}
    clusters = np.fromiter(map(index.__getitem__, source_ids), np.int64, len(source_ids))
    correct = (top1_array == label_array).astype(np.float64)
    present = [c for c, d in STUDY_DOMAINS.items() if (domain_array == d).any()]
    # per column, per source image: rows right and rows
    right = np.stack([np.bincount(clusters, correct * (domain_array == STUDY_DOMAINS[c]), len(sources))
                      for c in present], 1) if present else np.zeros((len(sources), 0))
    rows = np.stack([np.bincount(clusters, (domain_array == STUDY_DOMAINS[c]).astype(np.float64), len(sources))
                     for c in present], 1) if present else np.zeros((len(sources), 0))
    edited = [i for i, c in enumerate(present) if c != ORIGINAL]
    values = right.sum(0) / rows.sum(0)
    replicates = np.full((resamples, len(present) + 1), math.nan)
    for start, weights in _draws(seed, len(sources), resamples):
        part = (weights @ right) / (weights @ rows)
        replicates[start:start + len(weights), :-1] = part
        if edited:
            replicates[start:start + len(weights), -1] = part[:, edited].mean(axis=1)
    columns = [*present, AVERAGE] if edited else present
    values = [*values.tolist(), float(np.mean(values[edited]))] if edited else values.tolist()
    alpha = (1 - _CONFIDENCE) / 2
    figures: dict[str, Any] = {}
    for column, (name, value) in enumerate(zip(columns, values)):
        draws = replicates[:, column][np.isfinite(replicates[:, column])]
        low, high = np.quantile(draws, [alpha, 1 - alpha]) if len(draws) else (math.nan, math.nan)
        figures[name] = {"value": _num(value), "ci_low": _num(low), "ci_high": _num(high)}
    return {"protocol": PROTOCOL, "description": DESCRIPTION, "top1": figures,
            "rows": {c: int(rows[:, i].sum()) for i, c in enumerate(present)},
            "average_of": [present[i] for i in edited],
            "bootstrap": {"unit": "source image", "resamples": int(resamples), "confidence": _CONFIDENCE,
                          "seed": int(seed)}}


def study_figures(records: Sequence[Mapping[str, Any]], resamples: int, seed: int = 0) -> dict[str, Any]:
    """The study's figures from prediction records (what `imagenet-tc evaluate --protocol study` stores)."""
    return compute_study_figures([r["top5"][0] for r in records], [r["label"] for r in records],
                                 [r["domain"] for r in records], [r["source_id"] for r in records], resamples, seed)


def figures_from_columns(columns: Mapping[str, Sequence[Any]], resamples: int, seed: int = 0) -> dict[str, Any]:
    """The same from a predictions file's columns (`results.verify.prediction_columns`)."""
    return compute_study_figures([top5[0] for top5 in columns["top5"]], columns["label"], columns["domain"],
                                 columns["source_id"], resamples, seed)


def differences(claimed: Any, recomputed: Mapping[str, Any], intervals: bool = True) -> list[str]:
    """What differs between a results file's `study_protocol` and the one recomputed from its predictions, as
    `study_protocol.top1.Color.value: 0.52 claimed, 0.5 recomputed` (interval bounds only when `intervals`)."""
    if not isinstance(claimed, Mapping):
        return [f"study_protocol is {type(claimed).__name__}, expected an object"]
    found = []
    for key in ("protocol", "rows", "average_of", "bootstrap"):
        if claimed.get(key) != recomputed[key]:
            found.append(f"study_protocol.{key}: {claimed.get(key)!r} claimed, {recomputed[key]!r} recomputed")
    top1 = claimed.get("top1") if isinstance(claimed.get("top1"), Mapping) else {}
    if set(top1) != set(recomputed["top1"]):
        found.append(f"study_protocol.top1 has {sorted(top1)}, recomputed {sorted(recomputed['top1'])}")
    for column, estimate in recomputed["top1"].items():
        given = top1.get(column)
        for key in ("value", "ci_low", "ci_high") if intervals else ("value",):
            ours, theirs = estimate[key], given.get(key) if isinstance(given, Mapping) else None
            same = ours is None and theirs is None or (
                isinstance(theirs, (int, float)) and ours is not None and math.isclose(theirs, ours, abs_tol=1e-9))
            if not same and given is not None:
                found.append(f"study_protocol.top1.{column}.{key}: {theirs!r} claimed, {ours!r} recomputed")
    return found


def check_columns(results_data: Mapping[str, Any], columns: Mapping[str, Sequence[Any]],
                  intervals: bool = True) -> list[str]:
    """Problems of a results file's `study_protocol` against its predictions' columns (none when it has none)."""
    claimed = results_data.get("study_protocol")
    if claimed is None:
        return []
    bootstrap = claimed.get("bootstrap") if isinstance(claimed, Mapping) else None
    resamples = bootstrap.get("resamples") if isinstance(bootstrap, Mapping) else None
    seed = bootstrap.get("seed", 0) if isinstance(bootstrap, Mapping) else 0
    if not isinstance(resamples, int) or isinstance(resamples, bool) or not 0 <= resamples <= 100_000 or \
            not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 63:
        return [f"study_protocol.bootstrap is {bootstrap!r}, expected resamples (0 to 100000) and a seed"]
    return differences(claimed, figures_from_columns(columns, resamples, seed), intervals)


def summary_lines(figures: Mapping[str, Any]) -> list[str]:
    """The study's figures for the terminal, in its column order."""
    from imagenet_textcorrupt.estimate import format_estimate

    top1 = figures.get("top1") or {}
    lines = ["  the study's protocol (top-1 over 1000 outputs per domain, unpaired):"]
    for column in (c for c in COLUMNS if c in top1):
        rows = (figures.get("rows") or {}).get(column)
        note = f"   ({rows} rows)" if rows is not None else f"   (mean of {', '.join(figures.get('average_of') or ())})"
        lines.append(f"  {column:<12}  {format_estimate(top1[column])}{note}")
    return lines


def check_predictions_file(results_data: Mapping[str, Any], file: Any, intervals: bool = True) -> list[str]:
    """Problems of a results file's `study_protocol` against its predictions file (what verification adds to the
    metrics' comparison); none when the results hold no such block."""
    if results_data.get("study_protocol") is None:
        return []
    from imagenet_textcorrupt.results.predictions import PREDICTION_FIELDS, read_predictions

    records = read_predictions(file)
    return check_columns(results_data, {k: [r[k] for r in records] for k in PREDICTION_FIELDS}, intervals)
