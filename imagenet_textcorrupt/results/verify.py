"""Checking a results file against its predictions: every metric recomputed from the predictions file beside it
must equal the figure the results claim.

The predictions file is read once: its bytes give both its sha256 and its records. Files as `imagenet-tc evaluate`
writes them (one JSON object per line, every field of its kind) are read column by column without the checks of
each value one at a time (`prediction_columns`); anything else is read by `read_predictions`, which names the first
line and field it refuses, so both give the same columns, and the same errors.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.results.format import Results, ResultsError, load_results
from imagenet_textcorrupt.results.predictions import PREDICTION_FIELDS, predictions_path, read_predictions


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
    path = Path(path)
    results = load_results(path)
    status, file = unchecked_status(path, results)
    if status is not None:
        return results, status
    check_predictions(path, results, file)
    return results, CHECKED


def unchecked_status(path: Path, results: Results) -> tuple[str | None, Path]:
    """The status of a results file whose predictions cannot be checked (OTHER_METRICS_VERSION, NO_PREDICTIONS),
    or None; and the predictions file verification reads (always beside the results, whatever name they record)."""
    from imagenet_textcorrupt.metrics.paired import METRICS_VERSION

    name = Path(str(results.predictions.get("file") or predictions_path(path).name)).name  # never outside the folder
    file = path.parent / name
    if results.metrics.version != METRICS_VERSION:
        return OTHER_METRICS_VERSION, file
    return (None if file.is_file() else NO_PREDICTIONS), file


def check_predictions(path: Path, results: Results, file: Path, data: bytes | None = None,
                      digest: str | None = None) -> bool:
    """Recomputes every metric from the predictions file and raises ResultsError naming what differs (or why the
    file cannot be read or scored). `data`: the file's bytes, when the caller read them (and `digest` their sha256,
    when it has it). Returns whether the records were read from those bytes (False: the file was read again, by
    read_predictions)."""
    import numpy

    from imagenet_textcorrupt.metrics.paired import DEFAULT_RESAMPLES, compute

    name = file.name
    if data is None:
        data, digest = file.read_bytes(), None
    recorded = results.predictions
    problems = []
    digest = digest or hashlib.sha256(data).hexdigest()
    if recorded.get("sha256") and recorded["sha256"] != digest:
        problems.append(f"{name} has sha256 {digest[:12]}…, but the results record {str(recorded['sha256'])[:12]}…")
    columns, from_data = prediction_columns(file, data)
    if len(columns["id"]) != results.dataset.rows:
        problems.append(f"{name} has {len(columns['id'])} predictions for {results.dataset.rows} dataset rows")
    resamples = results.metrics.resamples
    try:  # what metrics_from_predictions computes from the records
        recomputed = compute(columns["top5"], columns["label"], columns["domain"], columns["severity"],
                             columns["source_id"], columns["group"], columns["template"], columns["top5_config"],
                             resamples=DEFAULT_RESAMPLES if resamples is None else resamples,
                             seed=results.metrics.seed)
    except ValueError as error:
        raise ResultsError(str(path), problems + [f"{name} cannot be scored: {error}"]) from None
    same_numpy = results.versions.get("numpy") == numpy.__version__
    claimed = results.metrics.tree
    differences = [] if claimed == recomputed else list(_differences(claimed, recomputed, intervals=same_numpy))
    if differences:
        shown = "; ".join(differences[:8]) + (f"; and {len(differences) - 8} more" if len(differences) > 8 else "")
        problems.append(f"the metrics do not match those recomputed from {name}: {shown}")
    if "study_protocol" in results.data:  # evaluate --protocol study: the source study's figures, recomputed too
        from imagenet_textcorrupt.study_protocol import check_predictions_file

        problems += check_predictions_file(results.data, file, intervals=same_numpy)
    if problems:
        raise ResultsError(str(path), problems)
    return from_data


# ------------------------------------------------------------------------------------ reading predictions fast
# where str.splitlines() also ends a line, beside "\n" and "\r" (checked apart) and the control characters JSON refuses
# (the reader of another version cut lines there): a file holding any is read the careful way
_OTHER_LINE_ENDS = ("\x85", "\u2028", "\u2029")
_SCAN = json.JSONDecoder().scan_once  # json.loads without the whitespace around a document
_FIELDS = [(name, itemgetter(name)) for name in PREDICTION_FIELDS]
_INT64 = 2 ** 63
_TEXT = {str}
_TEXT_OR_NULL = {str, type(None)}


def _int64(values: Any) -> bool:
    return set(map(type, values)) == {int} and min(values) >= -_INT64 and max(values) < _INT64


def _int64_rows(values: Any) -> Any:
    """Lists of 64-bit integers, all as long, as an (n, k) int64 array (what the metrics make of them); None for
    anything else."""
    import numpy as np

    if set(map(type, values)) != {list} or set(map(type, chain.from_iterable(values))) != {int}:
        return None
    try:
        return np.array(values, dtype=np.int64)
    except (OverflowError, ValueError):  # beyond 64 bits, or lists of different lengths
        return None


def _finite_float_lists(values: Any) -> bool:
    import numpy as np

    if set(map(type, values)) != {list}:
        return False
    flat = list(chain.from_iterable(values))
    return set(map(type, flat)) == {float} and bool(np.isfinite(np.array(flat)).all())


def _plain_columns(data: bytes) -> dict[str, Any] | None:
    """The columns of a predictions file whose every line is one JSON object (nothing around it) with every field
    of its plainest kind: text (group and template: text or null), 64-bit integers, lists of as many of them (top5
    and top5_config, given as (n, k) int64 arrays), lists of finite floats; None for any other file. What it
    accepts, read_predictions reads to the same values, line by line."""
    if not data.endswith(b"\n") or b"\r" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not data.isascii() and any(end in text for end in _OTHER_LINE_ENDS):
        return None
    records = []
    append, position, size = records.append, 0, len(text)
    try:
        while position < size:
            record, end = _SCAN(text, position)  # StopIteration at a blank line or whitespace before a record
            if text[end] != "\n":  # anything after the record on its line
                return None
            append(record)
            position = end + 1
    except Exception:  # noqa: BLE001 - not JSON, too deep, an integer too long: read_predictions names it
        return None
    # a record is one line: no newline between its tokens (JSON allows one there; a line is not a record then)
    if len(records) != text.count("\n") or set(map(type, records)) != {dict}:
        return None
    try:
        columns: dict[str, Any] = {name: list(map(get, records)) for name, get in _FIELDS}
    except KeyError:
        return None
    if not (all(set(map(type, columns[k])) == _TEXT for k in ("id", "source_id", "domain"))
            and all(set(map(type, columns[k])) <= _TEXT_OR_NULL for k in ("group", "template"))
            and _int64(columns["label"]) and _int64(columns["severity"])
            and _finite_float_lists(columns["top5_probs"])):
        return None
    for name in ("top5", "top5_config"):
        columns[name] = _int64_rows(columns[name])
        if columns[name] is None:
            return None
    return columns


def prediction_columns(file: Path, data: bytes) -> tuple[dict[str, Any], bool]:
    """Each field of a predictions file over its records (a list; top5 and top5_config, when plain, an array of
    the same values), read from `data`, its bytes; and whether they were (False: the file was not plain, and
    read_predictions read it again, raising ResultsError naming the first line it refuses)."""
    columns = _plain_columns(data)
    if columns is not None:
        return columns, True
    records = read_predictions(file)
    return {k: [r[k] for r in records] for k in PREDICTION_FIELDS}, False
