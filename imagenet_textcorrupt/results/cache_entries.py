"""One verification through the cache: `verify_with_cache`, and the entries it keeps.

Recomputing every metric of a results file from its predictions file is the costly part of `verify_results` (about
a tenth of a second for 10,000 rows). Its outcome, checked or refused with the problems found, depends only on the
bytes of the two files, on the formulas (`METRICS_VERSION`), on numpy (its random streams draw the bootstrap
resamples) and on the code that checks: an entry keeps it under the sha256 of all of them (the code as the sha256 of
the source of the modules that decide, `_CODE`), with this cache's format and the package's version. Both files are
read and hashed on every call, the results parsed and typed and their status decided (another metrics version, no
predictions file) as verify_results does, so `verify_results_cached` returns the same (Results, status) and raises
the same ResultsError: a forged file stays refused on a rebuild, and a changed file is verified again. (An entry is
only written for results bytes that passed Results.parse, so on a hit they are typed without its checks.)

An entry is a small JSON file, written atomically, that repeats its key and what the key was made of and carries a
checksum of its own content; one that cannot be read, does not parse, belongs to other inputs or fails its checksum
is ignored, and the verification is run again and the entry rewritten. The folder is trusted as the user's own: the
checksum finds damage, not forgery by someone who can write there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.results.format import Results, ResultsError
from imagenet_textcorrupt.results.predictions import predictions_path
from imagenet_textcorrupt.results.verify import CHECKED, check_predictions, unchecked_status, verify_results

CACHE_FORMAT = 1  # bump when an entry's layout or the meaning of its outcome changes
REFUSED = "refused"
_SOURCES = ("results", "predictions")  # which file a refusal names (ResultsError.source)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# the modules whose code decides a verification's outcome: what the files must hold, how they are read, the formulas
_CODE = ("imagenet_textcorrupt.results.format", "imagenet_textcorrupt.results.predictions",
         "imagenet_textcorrupt.results.verify", "imagenet_textcorrupt.metrics.paired",
         "imagenet_textcorrupt.metrics.inputs", "imagenet_textcorrupt.metrics.bootstrap",
         "imagenet_textcorrupt.classes", "imagenet_textcorrupt.schema", "imagenet_textcorrupt.estimate",
         "imagenet_textcorrupt.study_protocol", __name__)
_code_digest: str | None = None


def _code() -> str:
    """sha256 over the source of the modules in _CODE (read once): a changed rule or formula is another key, even
    within one version of the package."""
    global _code_digest
    if _code_digest is None:
        import importlib

        digest = hashlib.sha256()
        for name in _CODE:
            try:
                digest.update(Path(importlib.import_module(name).__file__ or "").read_bytes())
            except (OSError, ImportError):
                digest.update(f"{name}: unreadable".encode())
        _code_digest = digest.hexdigest()
    return _code_digest


def _inputs(results: str, predictions: str) -> dict[str, Any]:
    """What a verification's outcome depends on."""
    import numpy

    from imagenet_textcorrupt import __version__
    from imagenet_textcorrupt.metrics.paired import METRICS_VERSION

    return {"cache_format": CACHE_FORMAT, "results_sha256": results, "predictions_sha256": predictions,
            "metrics_version": METRICS_VERSION, "numpy": numpy.__version__, "imagenet_textcorrupt": __version__,
            "code_sha256": _code()}


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def entry_path(cache: str | Path, inputs: dict[str, Any]) -> Path:
    """Where the entry of these inputs is kept: <cache>/<2 hex digits>/<sha256 of the inputs>.json."""
    key = _sha256(_canonical(inputs))
    return Path(cache) / key[:2] / f"{key}.json"


def _read_entry(path: Path, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The outcome kept for these inputs, or None when there is none that can be trusted."""
    try:
        if not path.is_file():
            return None
        entry = json.loads(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - unreadable, not UTF-8, not JSON, too deep: recomputed
        return None
    if not isinstance(entry, dict) or set(entry) != {"key", "inputs", "outcome", "checksum"}:
        return None
    body = {k: entry[k] for k in ("key", "inputs", "outcome")}
    outcome = entry["outcome"]
    if entry["checksum"] != _sha256(_canonical(body)) or entry["inputs"] != inputs or \
            entry["key"] != path.stem or not isinstance(outcome, dict):
        return None
    if outcome.get("status") == CHECKED and set(outcome) == {"status"}:
        return outcome
    problems = outcome.get("problems")
    if outcome.get("status") == REFUSED and set(outcome) == {"status", "source", "problems"} and \
            outcome["source"] in _SOURCES and isinstance(problems, list) and problems and \
            all(isinstance(p, str) for p in problems):
        return outcome
    return None


def _write_entry(path: Path, inputs: dict[str, Any], outcome: dict[str, Any]) -> None:
    body = {"key": path.stem, "inputs": inputs, "outcome": outcome}
    try:
        atomic_write_text(path, json.dumps(body | {"checksum": _sha256(_canonical(body))}, indent=1) + "\n")
    except OSError:  # a cache that cannot be written only costs time
        pass


def _file_sha256(path: Path) -> str | None:
    try:
        return _sha256(path.read_bytes())
    except OSError:
        return None


def _predictions_named(path: Path, tree: Any) -> Path | None:
    """The predictions file verification reads for a results file, from its JSON before it is validated (the rule
    of verify.unchecked_status); None when the JSON is not shaped for the rule."""
    recorded = tree.get("predictions") if isinstance(tree, dict) else None
    recorded = {} if recorded is None else recorded
    if not isinstance(recorded, dict):
        return None
    return path.parent / Path(str(recorded.get("file") or predictions_path(path).name)).name


def verify_with_cache(path: Path, cache: Path) -> tuple[Results, str]:
    """verify_results(path), with the outcome of the recomputation from the cache when it has it."""
    try:
        if not path.is_file():
            return verify_results(path)
        data = path.read_bytes()
        tree = json.loads(data.decode("utf-8"))
    except Exception:  # noqa: BLE001 - whatever load_results refuses: verify_results raises it the same way
        return verify_results(path)
    file = _predictions_named(path, tree)
    try:
        predictions = file.read_bytes() if file is not None and file.is_file() else None
    except Exception:  # noqa: BLE001 - unreadable, a name no file can have: left to verify_results below
        predictions = None
    inputs = where = None
    if predictions is not None:
        inputs = _inputs(_sha256(data), _sha256(predictions))
        where = entry_path(cache, inputs)
        kept = _read_entry(where, inputs)
        if kept is not None:
            # an entry is only written for bytes that were valid results, of this metrics version, with this
            # predictions file beside them: they need not be checked again
            results = _typed(tree)
            if kept["status"] == CHECKED:
                return results, CHECKED
            raise ResultsError(str(path) if kept["source"] == "results" else str(file), list(kept["problems"]))
    try:
        results = Results.parse(tree, str(path))
    except Exception:  # noqa: BLE001 - raised by verify_results the same way
        return verify_results(path)
    status, named = unchecked_status(path, results)
    if status is not None:
        return results, status
    if predictions is None or named != file or inputs is None or where is None:
        return verify_results(path)  # the predictions file could not be read just before: read as it does
    try:
        read_from_data = check_predictions(path, results, file, predictions, inputs["predictions_sha256"])
    except ResultsError as error:
        source = {str(path): "results", str(file): "predictions"}.get(error.source)
        # kept only when the predictions file still holds the bytes it is keyed by (read_predictions reads it again)
        if source and error.problems and _file_sha256(file) == inputs["predictions_sha256"]:
            _write_entry(where, inputs, {"status": REFUSED, "source": source, "problems": list(error.problems)})
        raise
    if read_from_data or _file_sha256(file) == inputs["predictions_sha256"]:
        _write_entry(where, inputs, {"status": CHECKED})
    return results, CHECKED


def _typed(tree: dict[str, Any]) -> Results:
    """Results.parse without its checks, for bytes that passed them before."""
    from imagenet_textcorrupt.results.format import _build

    return _build(tree)
