"""The predictions file beside a results file: per row its id, labels and the top-5 classes with their
probabilities, sorted by id, from which every metric can be recomputed without the model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.results.format import INT_LIMIT, ResultsError, parse_json, read_text, shown

PREDICTIONS_SUFFIX = ".predictions.jsonl"
# one JSON object per line, sorted by id
PREDICTION_FIELDS = ("id", "source_id", "label", "domain", "severity", "group", "template", "top5", "top5_probs",
                     "top5_config")
# what each field holds; read_predictions refuses anything else, naming the line and the field
FIELD_KINDS = {"id": "text", "source_id": "text", "label": "integer", "domain": "text", "severity": "integer",
               "group": "text or null", "template": "text or null", "top5": "list of integers",
               "top5_probs": "list of numbers", "top5_config": "list of integers"}


def predictions_path(results: str | Path) -> Path:
    """Where the predictions of a results file live: results.json -> results.predictions.jsonl."""
    path = Path(results)
    return path.with_name(path.stem + PREDICTIONS_SUFFIX)


def write_predictions(path: str | Path, records: Iterable[dict[str, Any]]) -> str:
    """Writes the records sorted by id; returns the sha256 of the file's bytes."""
    import hashlib

    lines = [json.dumps({k: record[k] for k in PREDICTION_FIELDS}, ensure_ascii=False, allow_nan=False)
             for record in sorted(records, key=lambda r: r["id"])]
    text = "\n".join(lines) + "\n"
    atomic_write_text(Path(path), text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -INT_LIMIT <= value < INT_LIMIT


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float) and math.isfinite(value)


_KIND_CHECKS = {"text": lambda v: isinstance(v, str), "text or null": lambda v: v is None or isinstance(v, str),
                "integer": _is_int, "list of integers": lambda v: isinstance(v, list) and all(map(_is_int, v)),
                "list of numbers": lambda v: isinstance(v, list) and all(map(_is_number, v))}


def _field_problem(record: dict[str, Any]) -> str | None:
    """The first field of a record whose value is not of its kind, as `field is VALUE, expected KIND`."""
    for name, kind in FIELD_KINDS.items():
        if not _KIND_CHECKS[kind](record[name]):
            return f"{name} is {shown(record[name])}, expected {kind}"
    return None


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """The records of a predictions file; a line that is not a record with every field, each of its kind, is an
    error naming the file, the line and the field."""
    path = Path(path)
    source = str(path)
    records = []
    # lines end at "\n" only: str.splitlines() would also cut at U+2028 or U+0085, which JSON strings may hold
    for number, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        record = parse_json(line, source, f"line {number}")
        missing = [k for k in PREDICTION_FIELDS if not isinstance(record, dict) or k not in record]
        if missing:
            raise ResultsError(source, [f"line {number}: missing {', '.join(missing)}"])
        problem = _field_problem(record)
        if problem:
            raise ResultsError(source, [f"line {number}: {problem}"])
        records.append(record)
    if not records:
        raise ResultsError(source, ["no predictions"])
    return records


def metrics_from_predictions(records: list[dict[str, Any]], resamples: int | None = None, seed: int = 0
                             ) -> dict[str, Any]:
    """Every metric from a predictions file's records (the same call `imagenet-tc evaluate` makes)."""
    from imagenet_textcorrupt.metrics.paired import DEFAULT_RESAMPLES, compute

    columns = {k: [r[k] for r in records] for k in PREDICTION_FIELDS}
    return compute(columns["top5"], columns["label"], columns["domain"], columns["severity"], columns["source_id"],
                   columns["group"], columns["template"], columns["top5_config"],
                   resamples=DEFAULT_RESAMPLES if resamples is None else resamples, seed=seed)
