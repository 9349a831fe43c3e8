"""Checking a results file against its predictions: every metric recomputed from the predictions file beside it
must equal the figure the results claim.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.results.format import Results, ResultsError, load_results
from imagenet_textcorrupt.results.predictions import metrics_from_predictions, predictions_path, read_predictions


def _differences(claimed: Any, recomputed: Any, path: str = "", intervals: bool = True) -> Iterator[str]:
    """Figures that differ between two metrics trees, as 'path: claimed X, recomputed Y'. Without `intervals`
    the bootstrap bounds are not compared (another numpy may draw other resamples)."""
    if isinstance(claimed, dict) and isinstance(recomputed, dict):
        for key in sorted(set(claimed) | set(recomputed), key=str):
            where = f"{path}.{key}" if path else str(key)
            if not intervals and key in ("ci_low", "ci_high"):
                continue
            if key not in recomputed:
                yield f"{where}: claimed but not recomputable"
            elif key not in claimed:
                yield f"{where}: missing (recomputed {recomputed[key]!r})"
            else:
                yield from _differences(claimed[key], recomputed[key], where, intervals)
    elif isinstance(claimed, (int, float)) and isinstance(recomputed, (int, float)) \
            and not isinstance(claimed, bool) and not isinstance(recomputed, bool):
        if not math.isclose(claimed, recomputed, rel_tol=1e-9, abs_tol=1e-12):
            yield f"{path}: claimed {claimed:.6g}, recomputed {recomputed:.6g}"
    elif claimed != recomputed:
        yield f"{path}: claimed {claimed!r}, recomputed {recomputed!r}"


CHECKED = "checked"  # verify_results' statuses
NO_PREDICTIONS = "no predictions file"
OTHER_METRICS_VERSION = "other metrics version"


def verify_results(path: str | Path) -> tuple[Results, str]:
    """Loads a results file and, when its predictions file is beside it, recomputes every metric from the
    predictions and refuses the file if any figure differs. Returns (results, status): CHECKED, NO_PREDICTIONS,
    or OTHER_METRICS_VERSION (this version of the formulas cannot recompute another's). Interval bounds are only
    compared when the results were computed with this numpy (its random streams may change between versions)."""
    import numpy

    from imagenet_textcorrupt.checksums import sha256_file
    from imagenet_textcorrupt.metrics import METRICS_VERSION

    path = Path(path)
    results = load_results(path)
    if results.metrics.version != METRICS_VERSION:
        return results, OTHER_METRICS_VERSION
    recorded = results.predictions
    name = Path(str(recorded.get("file") or predictions_path(path).name)).name  # never a path outside the folder
    file = path.parent / name
    if not file.is_file():
        return results, NO_PREDICTIONS
    problems = []
    digest = sha256_file(file)
    if recorded.get("sha256") and recorded["sha256"] != digest:
        problems.append(f"{name} has sha256 {digest[:12]}…, but the results record {str(recorded['sha256'])[:12]}…")
    records = read_predictions(file)
    if len(records) != results.dataset.rows:
        problems.append(f"{name} has {len(records)} predictions for {results.dataset.rows} dataset rows")
    try:
        recomputed = metrics_from_predictions(records, results.metrics.resamples, results.metrics.seed)
    except ValueError as error:
        raise ResultsError(str(path), problems + [f"{name} cannot be scored: {error}"]) from None
    same_numpy = results.versions.get("numpy") == numpy.__version__
    differences = list(_differences(results.metrics.tree, recomputed, intervals=same_numpy))
    if differences:
        shown = "; ".join(differences[:8]) + (f"; and {len(differences) - 8} more" if len(differences) > 8 else "")
        problems.append(f"the metrics do not match those recomputed from {name}: {shown}")
    if "study_protocol" in results.data:  # evaluate --protocol study: the source study's figures, recomputed too
        from imagenet_textcorrupt.study_protocol import check_predictions_file

        problems += check_predictions_file(results.data, file, intervals=same_numpy)
    if problems:
        raise ResultsError(str(path), problems)
    return results, CHECKED
