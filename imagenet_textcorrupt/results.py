"""The files an evaluation leaves: the results JSON (provenance and metrics) and the predictions file beside it
(per row: id, labels and the top-5 classes with their probabilities), from which every metric can be recomputed
without the model. Reading a results file checks its schema and names every problem with its JSON path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.errors import ImageNetTCError

RESULTS_FORMAT = "imagenet-tc-results"
FORMAT_VERSION = 1
PREDICTIONS_SUFFIX = ".predictions.jsonl"
# one JSON object per line, sorted by id
PREDICTION_FIELDS = ("id", "source_id", "label", "domain", "severity", "group", "template", "top5", "top5_probs",
                     "top5_config")
# (path, type) that every results file must have; "number" excludes NaN and infinities
REQUIRED: tuple[tuple[str, str], ...] = (
    ("format", "str"), ("format_version", "int"), ("created", "str"),
    ("dataset.id", "str"), ("dataset.config", "str"), ("dataset.split", "str"), ("dataset.rows", "int"),
    ("model.id", "str"), ("model.family", "str"), ("model.pretrained", "bool"),
    ("preprocessing", "dict"), ("versions", "dict"),
    ("metrics.metrics_version", "str"), ("metrics.counts.rows", "int"), ("metrics.counts.sources", "int"),
    ("metrics.clean.top1.value", "number"), ("metrics.edited.top1.value", "number"),
    ("metrics.edited.drop.value", "number"), ("metrics.by_domain", "dict"), ("metrics.by_severity", "dict"),
    ("metrics.errors", "dict"),
)


class ResultsError(ImageNetTCError, ValueError):
    """A results or predictions file that cannot be trusted; lists every problem found."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


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


def write_results(path: str | Path, results: dict[str, Any]) -> None:
    atomic_write_text(Path(path), json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def comparability_problems(results: dict[str, Any]) -> list[str]:
    """Why a result cannot be ranked beside full evaluations of trained models (empty when it can)."""
    problems = []
    if not results["model"].get("pretrained"):
        problems.append("the model has random weights (--no-pretrained)")
    limit = (results.get("run") or {}).get("limit")
    if limit:
        problems.append(f"it covers only the first {limit} source images (--limit)")
    return problems


def _lookup(data: Any, dotted: str) -> tuple[bool, Any]:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return False, None
        data = data[part]
    return True, data


def _non_finite(data: Any, path: str = "") -> Iterator[str]:
    if isinstance(data, float) and not math.isfinite(data):
        yield path or "(top level)"
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _non_finite(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _non_finite(value, f"{path}[{index}]")


_TYPES = {"str": str, "int": int, "bool": bool, "dict": dict}


def check_results(data: Any) -> list[str]:
    """Problems with a parsed results file: missing fields, wrong types, NaN or infinite numbers."""
    if not isinstance(data, dict):
        return ["not a JSON object"]
    problems = []
    if data.get("format") not in (None, RESULTS_FORMAT):
        problems.append(f"format is {data.get('format')!r}, expected {RESULTS_FORMAT!r}")
    if isinstance(data.get("format_version"), int) and data["format_version"] > FORMAT_VERSION:
        problems.append(f"format_version {data['format_version']} is newer than this tool reads ({FORMAT_VERSION}); "
                        f"upgrade imagenet-textcorrupt")
    for dotted, kind in REQUIRED:
        found, value = _lookup(data, dotted)
        if not found:
            problems.append(f"missing {dotted}")
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(f"{dotted} is {value!r}, expected a number")
        elif kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(f"{dotted} is {value!r}, expected an integer")
        elif not isinstance(value, _TYPES[kind]):
            problems.append(f"{dotted} is {value!r}, expected {kind}")
    problems += [f"{path} is not a finite number" for path in _non_finite(data)]
    problems += list(_bad_estimates(data.get("metrics"), "metrics"))
    bootstrap = (data.get("metrics") or {}).get("bootstrap") if isinstance(data.get("metrics"), dict) else None
    if bootstrap is not None:
        if not isinstance(bootstrap, dict):
            problems.append("metrics.bootstrap is not an object")
        else:
            for key in ("resamples", "seed"):
                value = bootstrap.get(key)
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    problems.append(f"metrics.bootstrap.{key} is {value!r}, expected an integer >= 0")
    if "predictions" in data and not isinstance(data["predictions"], dict):
        problems.append(f"predictions is {data['predictions']!r}, expected an object")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bad_estimates(data: Any, path: str) -> Iterator[str]:
    """Estimates ({"value", "ci_low", "ci_high"}) whose figures are neither numbers nor null."""
    if isinstance(data, dict):
        if "value" in data:
            for key in ("value", "ci_low", "ci_high"):
                if key in data and data[key] is not None and not _is_number(data[key]):
                    yield f"{path}.{key} is {data[key]!r}, expected a number or null"
        for key, value in data.items():
            if isinstance(value, dict):
                yield from _bad_estimates(value, f"{path}.{key}")


def load_results(path: str | Path) -> dict[str, Any]:
    """Reads and schema-checks a results file; raises ResultsError listing every problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(str(path), ["no such file"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsError(str(path), [f"not valid JSON ({error})"]) from None
    problems = check_results(data)
    if problems:
        raise ResultsError(str(path), problems)
    return data


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


def verify_results(path: str | Path) -> tuple[dict[str, Any], str]:
    """Loads a results file and, when its predictions file is beside it, recomputes every metric from the
    predictions and refuses the file if any figure differs. Returns (results, status): CHECKED, NO_PREDICTIONS,
    or OTHER_METRICS_VERSION (this version of the formulas cannot recompute another's). Interval bounds are only
    compared when the results were computed with this numpy (its random streams may change between versions)."""
    import numpy

    from imagenet_textcorrupt.checksums import sha256_file
    from imagenet_textcorrupt.metrics import METRICS_VERSION

    path = Path(path)
    results = load_results(path)
    if results["metrics"]["metrics_version"] != METRICS_VERSION:
        return results, OTHER_METRICS_VERSION
    recorded = results.get("predictions") or {}
    name = Path(str(recorded.get("file") or predictions_path(path).name)).name  # never a path outside the folder
    file = path.parent / name
    if not file.is_file():
        return results, NO_PREDICTIONS
    problems = []
    digest = sha256_file(file)
    if recorded.get("sha256") and recorded["sha256"] != digest:
        problems.append(f"{name} has sha256 {digest[:12]}…, but the results record {str(recorded['sha256'])[:12]}…")
    records = read_predictions(file)
    if len(records) != results["dataset"]["rows"]:
        problems.append(f"{name} has {len(records)} predictions for {results['dataset']['rows']} dataset rows")
    bootstrap = results["metrics"].get("bootstrap", {})
    try:
        recomputed = metrics_from_predictions(records, bootstrap.get("resamples"), bootstrap.get("seed", 0))
    except ValueError as error:
        raise ResultsError(str(path), problems + [f"{name} cannot be scored: {error}"]) from None
    same_numpy = results["versions"].get("numpy") == numpy.__version__
    differences = list(_differences(results["metrics"], recomputed, intervals=same_numpy))
    if differences:
        shown = "; ".join(differences[:8]) + (f"; and {len(differences) - 8} more" if len(differences) > 8 else "")
        problems.append(f"the metrics do not match those recomputed from {name}: {shown}")
    if problems:
        raise ResultsError(str(path), problems)
    return results, CHECKED
