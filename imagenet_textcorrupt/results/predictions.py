"""The predictions file beside a results file: per row its id, labels and the top-5 classes with their
probabilities, sorted by id, from which every metric can be recomputed without the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.results.format import ResultsError

PREDICTIONS_SUFFIX = ".predictions.jsonl"
# one JSON object per line, sorted by id
PREDICTION_FIELDS = ("id", "source_id", "label", "domain", "severity", "group", "template", "top5", "top5_probs",
                     "top5_config")


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


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """The records of a predictions file; a line that is not a record with every field is an error naming it."""
    path = Path(path)
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ResultsError(str(path), [f"not UTF-8 text ({error.reason} at byte {error.start})"]) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ResultsError(str(path), [f"line {number}: not JSON ({error.msg})"]) from None
        missing = [k for k in PREDICTION_FIELDS if not isinstance(record, dict) or k not in record]
        if missing:
            raise ResultsError(str(path), [f"line {number}: missing {', '.join(missing)}"])
        records.append(record)
    if not records:
        raise ResultsError(str(path), ["no predictions"])
    return records


def metrics_from_predictions(records: list[dict[str, Any]], resamples: int | None = None, seed: int = 0
                             ) -> dict[str, Any]:
    """Every metric from a predictions file's records (the same call `imagenet-tc evaluate` makes)."""
    from imagenet_textcorrupt import metrics

    columns = {k: [r[k] for r in records] for k in PREDICTION_FIELDS}
    return metrics.compute(columns["top5"], columns["label"], columns["domain"], columns["severity"],
                           columns["source_id"], columns["group"], columns["template"], columns["top5_config"],
                           resamples=metrics.DEFAULT_RESAMPLES if resamples is None else resamples, seed=seed)
