"""The results file `imagenet-tc evaluate` writes, as one typed object: `Results.parse` reads and validates a
file's JSON once, naming every problem with its JSON path, and the report, the leaderboard, submissions and the
command line read its fields instead of walking dicts.

The file (format "imagenet-tc-results", version 1) holds: `created`; `dataset` (id, config, split, rows, and what
is known of the revision: the requested `revision`, the commit `sha`, a `fingerprint` of a local folder, the
release `version` and the `recipe` it was built from); `model` (id, family, pretrained, parameters, checkpoint);
`preprocessing`; `run`; `versions`; `predictions` (the predictions file beside it and its sha256); `metrics` (what
`metrics.compute` returns); and, from `imagenet-tc evaluate --protocol study`, `study_protocol` (the source study's
figures, study_protocol.py).
"""

from __future__ import annotations

import json
import math
import reprlib
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.estimate import Estimate

RESULTS_FORMAT = "imagenet-tc-results"
FORMAT_VERSION = 1

Figures = Mapping[str, Estimate]  # the estimates of one subset: {"top1": ..., "drop": ...}


class ResultsError(ImageNetTCError, ValueError):
    """A results or predictions file that cannot be trusted; lists every problem found."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def short_digest(text: str | None, size: int = 8) -> str | None:
    """The first characters of a digest, without an `algorithm:` prefix: `sha256:1a2b...` -> `1a2b3c4d`."""
    return text.split(":", 1)[-1][:size] if text else None


@dataclass(frozen=True)
class DatasetRef:
    """The rows a result was scored on."""

    id: str
    config: str
    split: str
    rows: int
    revision: str | None = None  # as requested (a tag, a branch, a sha); None for a local folder
    sha: str | None = None  # the commit the revision resolved to
    fingerprint: str | None = None  # sha256 over a local release folder's files
    version: str | None = None  # the release's version
    recipe: str | None = None  # the name of the recipe the release was built from (its release.json)

    @property
    def revision_key(self) -> str | None:
        """Which data the result is on, the one rule every comparison uses: the commit sha, else the fingerprint of
        a local folder, else the release version; None when nothing was recorded."""
        if self.sha:
            return self.sha
        if self.fingerprint:
            return self.fingerprint
        return f"version {self.version}" if self.version else None

    @property
    def revision_label(self) -> str:
        """Short, for people: `v0.1.0, sha 1a2b3c4d` (what is known of it)."""
        parts = [f"v{self.version}" if self.version else None, f"sha {short_digest(self.sha)}" if self.sha else None,
                 f"fingerprint {short_digest(self.fingerprint)}" if self.fingerprint else None]
        known = ", ".join(p for p in parts if p)
        if known:
            return known
        return f"{self.revision} (not resolved to a commit)" if self.revision else "unknown revision"


@dataclass(frozen=True)
class ModelRef:
    id: str
    family: str
    pretrained: bool
    parameters: int | None = None
    checkpoint_sha256: str | None = None


@dataclass(frozen=True)
class Metrics:
    """The figures of `metrics.compute`, typed; `tree` is the object as stored (verification compares it)."""

    version: str
    rows: int
    sources: int
    edits: int | None  # text-guided edits
    imagenet_c_rows: int
    clean: Figures
    edited: Figures
    by_domain: dict[str, Figures]
    by_severity: dict[str, Figures]
    by_group: dict[str, dict[str, Figures]]  # group -> {"clean": ..., "edited": ..., "imagenet_c": ...}
    errors: dict[str, dict[str, float]]  # domain -> severity -> top-1 error
    confidence: float | None
    resamples: int | None
    seed: int
    tree: dict[str, Any] = field(repr=False, compare=False)
    imagenet_c: Figures = field(default_factory=dict)  # ImageNet-C rows on the same photos, when there are any
    imagenet_c_by_severity: dict[str, Figures] = field(default_factory=dict)


@dataclass(frozen=True)
class Results:
    created: str
    dataset: DatasetRef
    model: ModelRef
    metrics: Metrics
    limit: int | None  # run.limit: only the first N source images were scored
    dtype: str | None  # run.dtype
    versions: dict[str, Any]
    predictions: dict[str, Any]  # {"file", "sha256", "rows"} of the predictions file beside the results
    data: dict[str, Any] = field(repr=False, compare=False)  # the JSON as read

    @classmethod
    def parse(cls, data: Any, source: str = "results") -> Results:
        """The typed results of a parsed JSON file; raises ResultsError naming every problem."""
        if isinstance(data, Results):
            return data
        problems = check_results(data)
        if problems:
            raise ResultsError(source, problems)
        return _build(data)

    def comparability_problems(self) -> list[str]:
        """Why this result cannot be ranked beside full evaluations of trained models (empty when it can)."""
        problems = []
        if not self.model.pretrained:
            problems.append("the model has random weights (--no-pretrained)")
        if self.limit:
            problems.append(f"it covers only the first {self.limit} source images (--limit)")
        return problems


# ------------------------------------------------------------------------------------------------- validation
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
# fields that may be absent or null, but have this type when present
OPTIONAL: tuple[tuple[str, str], ...] = (
    ("dataset.revision", "str"), ("dataset.sha", "str"), ("dataset.fingerprint", "str"), ("dataset.version", "str"),
    ("model.parameters", "int"), ("model.checkpoint", "dict"), ("run", "dict"), ("run.limit", "int"),
    ("run.dtype", "str"), ("metrics.counts.edits", "int"), ("metrics.by_group", "dict"), ("predictions", "dict"),
    ("metrics.bootstrap", "dict"), ("metrics.bootstrap.confidence", "number"), ("metrics.imagenet_c", "dict"),
    ("metrics.imagenet_c_by_severity", "dict"), ("metrics.counts.imagenet_c", "int"), ("dataset.recipe", "str"),
    ("study_protocol", "dict"), ("study_protocol.top1", "dict"),
)
_TYPES = {"str": (str,), "int": (int,), "bool": (bool,), "dict": (dict,), "number": (int, float)}
_NAMES = {"int": "an integer", "number": "a number", "dict": "an object"}
INT_LIMIT = 2 ** 63  # integers of a results file are 64-bit: rows, parameters, seeds
_FLOAT_MAX = int(sys.float_info.max)  # larger integers overflow a float
MAX_RESAMPLES = 100_000  # verification recomputes every resample: more would take hours and all memory
_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 2, 6, 6, 6, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 80, 80, 40


def shown(value: Any) -> str:
    """`repr(value)` cut short: what an error message quotes of a value read from a file (however long or deep)."""
    try:
        return _REPR.repr(value)
    except ValueError:  # an integer too long for repr()
        return f"<an integer of {value.bit_length()} bits>" if isinstance(value, int) else "<unprintable>"


def _lookup(data: Any, dotted: str) -> tuple[bool, Any]:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return False, None
        data = data[part]
    return True, data


def _type_problem(dotted: str, value: Any, kind: str) -> str | None:
    wrong_bool = isinstance(value, bool) and kind in ("int", "number")
    if wrong_bool or not isinstance(value, _TYPES[kind]):
        return f"{dotted} is {shown(value)}, expected {_NAMES.get(kind, kind)}"
    if kind == "int" and not -INT_LIMIT <= value < INT_LIMIT:
        return f"{dotted} is {shown(value)}, expected a 64-bit integer"
    if kind == "number" and isinstance(value, int) and abs(value) > _FLOAT_MAX:
        return f"{dotted} is {shown(value)}, expected a number a float can hold"
    return None


def _non_finite(data: Any) -> Iterator[str]:
    """The paths of NaN and infinite numbers, in document order (a loop, not recursion: any depth JSON allows)."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            yield path or "(top level)"
        elif isinstance(value, dict):
            stack += reversed([(f"{path}.{k}" if path else str(k), v) for k, v in value.items()])
        elif isinstance(value, list):
            stack += reversed([(f"{path}[{i}]", v) for i, v in enumerate(value)])


def _bad_estimates(data: Any, path: str) -> Iterator[str]:
    """Estimates ({"value", "ci_low", "ci_high"}) whose figures are neither numbers nor null."""
    stack: list[tuple[str, Any]] = [(path, data)] if isinstance(data, dict) else []
    while stack:
        where, block = stack.pop()
        if "value" in block:
            for key in ("value", "ci_low", "ci_high"):
                if key in block and block[key] is not None and _type_problem("", block[key], "number"):
                    yield f"{where}.{key} is {shown(block[key])}, expected a number or null"
        stack += reversed([(f"{where}.{k}", v) for k, v in block.items() if isinstance(v, dict)])


def check_results(data: Any) -> list[str]:
    """Problems with a parsed results file: missing fields, wrong types, NaN or infinite numbers."""
    if not isinstance(data, dict):
        return ["not a JSON object"]
    problems = []
    if data.get("format") not in (None, RESULTS_FORMAT):
        problems.append(f"format is {shown(data.get('format'))}, expected {RESULTS_FORMAT!r}")
    if isinstance(data.get("format_version"), int) and data["format_version"] > FORMAT_VERSION:
        problems.append(f"format_version {shown(data['format_version'])} is newer than this tool reads "
                        f"({FORMAT_VERSION}); "
                        f"upgrade imagenet-textcorrupt")
    for dotted, kind in REQUIRED:
        found, value = _lookup(data, dotted)
        problem = _type_problem(dotted, value, kind) if found else f"missing {dotted}"
        problems += [problem] if problem else []
    for dotted, kind in OPTIONAL:
        found, value = _lookup(data, dotted)
        problem = _type_problem(dotted, value, kind) if found and value is not None else None
        problems += [problem] if problem else []
    problems += [f"{path} is not a finite number" for path in _non_finite(data)]
    problems += list(_bad_estimates(data.get("metrics"), "metrics"))
    problems += list(_bad_estimates(data.get("study_protocol"), "study_protocol"))
    errors = _lookup(data, "metrics.errors")[1]
    for domain, cells in errors.items() if isinstance(errors, dict) else ():
        if not isinstance(cells, dict):
            problems.append(f"metrics.errors.{domain} is {shown(cells)}, expected an object")
            continue
        problems += [f"metrics.errors.{domain}.{s} is {shown(e)}, expected a number" for s, e in cells.items()
                     if _type_problem("", e, "number")]
    for key, largest in (("resamples", MAX_RESAMPLES), ("seed", INT_LIMIT - 1)):
        found, value = _lookup(data, f"metrics.bootstrap.{key}")
        if isinstance(_lookup(data, "metrics.bootstrap")[1], dict) and \
                (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= largest):
            problems.append(f"metrics.bootstrap.{key} is {shown(value)}, expected an integer >= 0 and <= {largest}")
    return problems


# ------------------------------------------------------------------------------------------------ typed reading
def _figures(block: Any) -> dict[str, Estimate]:
    if not isinstance(block, Mapping):
        return {}
    return {name: estimate for name, value in block.items()
            if (estimate := Estimate.from_json(value)) is not None}


def _build(data: dict[str, Any]) -> Results:
    dataset, model, m = data["dataset"], data["model"], data["metrics"]
    run = data.get("run") or {}
    bootstrap = m.get("bootstrap") or {}
    metrics = Metrics(
        version=m["metrics_version"], rows=m["counts"]["rows"], sources=m["counts"]["sources"],
        edits=m["counts"].get("edits"), imagenet_c_rows=m["counts"].get("imagenet_c", 0),
        clean=_figures(m["clean"]), edited=_figures(m["edited"]),
        by_domain={k: _figures(v) for k, v in m["by_domain"].items()},
        by_severity={k: _figures(v) for k, v in m["by_severity"].items()},
        by_group={g: {part: _figures(block) for part, block in parts.items()} if isinstance(parts, Mapping) else {}
                  for g, parts in (m.get("by_group") or {}).items()},
        errors={d: {s: float(e) for s, e in cells.items()} if isinstance(cells, Mapping) else {}
                for d, cells in m["errors"].items()},
        confidence=bootstrap.get("confidence"), resamples=bootstrap.get("resamples"),
        seed=bootstrap.get("seed", 0), tree=m, imagenet_c=_figures(m.get("imagenet_c")),
        imagenet_c_by_severity={k: _figures(v) for k, v in (m.get("imagenet_c_by_severity") or {}).items()})
    return Results(
        created=data["created"],
        dataset=DatasetRef(id=dataset["id"], config=dataset["config"], split=dataset["split"], rows=dataset["rows"],
                           revision=dataset.get("revision"), sha=dataset.get("sha"),
                           fingerprint=dataset.get("fingerprint"), version=dataset.get("version"),
                           recipe=dataset.get("recipe")),
        model=ModelRef(id=model["id"], family=model["family"], pretrained=model["pretrained"],
                       parameters=model.get("parameters"),
                       checkpoint_sha256=(model.get("checkpoint") or {}).get("sha256")),
        metrics=metrics, limit=run.get("limit"), dtype=run.get("dtype"), versions=data["versions"],
        predictions=data.get("predictions") or {}, data=data)


def read_text(path: Path) -> str:
    """The UTF-8 text of a regular file (a symbolic link to one included); ResultsError naming the file for
    anything else: missing, a folder, a device or pipe (which could be read forever), unreadable, not UTF-8."""
    try:
        if not path.is_file():
            raise ResultsError(str(path), ["no such file" if not path.exists() else "not a regular file"])
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ResultsError(str(path), [f"not UTF-8 text ({error.reason} at byte {error.start})"]) from None
    except OSError as error:
        raise ResultsError(str(path), [f"cannot be read ({error.strerror or error})"]) from None


def parse_json(text: str, source: str, where: str = "") -> Any:
    """`json.loads`, with whatever it refuses (bad syntax, an integer of thousands of digits, nesting deeper than
    Python's recursion limit) as a ResultsError naming the file (and `where`, e.g. a line)."""
    prefix = f"{where}: " if where else ""
    try:
        return json.loads(text)
    except RecursionError:
        raise ResultsError(source, [f"{prefix}not valid JSON (nested too deeply)"]) from None
    except ValueError as error:  # JSONDecodeError, or an integer longer than int_max_str_digits
        raise ResultsError(source, [f"{prefix}not valid JSON ({error})"]) from None


def load_results(path: str | Path) -> Results:
    """Reads and validates a results file; raises ResultsError listing every problem."""
    path = Path(path)
    return Results.parse(parse_json(read_text(path), str(path)), str(path))


def write_results(path: str | Path, results: Mapping[str, Any]) -> None:
    atomic_write_text(Path(path), json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
