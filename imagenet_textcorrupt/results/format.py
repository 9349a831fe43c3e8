"""The results file `imagenet-tc evaluate` writes, as one typed object: `Results.parse` reads and validates a
file's JSON once, naming every problem with its JSON path, and the report, the leaderboard, submissions and the
command line read its fields instead of walking dicts.

The file (format "imagenet-tc-results", version 1) holds: `created`; `dataset` (id, config, split, rows, and what
is known of the revision: the requested `revision`, the commit `sha`, a `fingerprint` of a local folder, the
release `version`); `model` (id, family, pretrained, parameters, checkpoint); `preprocessing`; `run`; `versions`;
`predictions` (the predictions file beside it and its sha256); `metrics` (what `metrics.compute` returns).
"""

from __future__ import annotations

import json
import math
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
    ("metrics.imagenet_c_by_severity", "dict"), ("metrics.counts.imagenet_c", "int"),
)
_TYPES = {"str": (str,), "int": (int,), "bool": (bool,), "dict": (dict,), "number": (int, float)}
_NAMES = {"int": "an integer", "number": "a number", "dict": "an object"}


def _lookup(data: Any, dotted: str) -> tuple[bool, Any]:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return False, None
        data = data[part]
    return True, data


def _type_problem(dotted: str, value: Any, kind: str) -> str | None:
    wrong_bool = isinstance(value, bool) and kind in ("int", "number")
    if wrong_bool or not isinstance(value, _TYPES[kind]):
        return f"{dotted} is {value!r}, expected {_NAMES.get(kind, kind)}"
    return None


def _non_finite(data: Any, path: str = "") -> Iterator[str]:
    if isinstance(data, float) and not math.isfinite(data):
        yield path or "(top level)"
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _non_finite(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _non_finite(value, f"{path}[{index}]")


def _bad_estimates(data: Any, path: str) -> Iterator[str]:
    """Estimates ({"value", "ci_low", "ci_high"}) whose figures are neither numbers nor null."""
    if isinstance(data, dict):
        if "value" in data:
            for key in ("value", "ci_low", "ci_high"):
                if key in data and data[key] is not None and _type_problem("", data[key], "number"):
                    yield f"{path}.{key} is {data[key]!r}, expected a number or null"
        for key, value in data.items():
            if isinstance(value, dict):
                yield from _bad_estimates(value, f"{path}.{key}")


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
        problem = _type_problem(dotted, value, kind) if found else f"missing {dotted}"
        problems += [problem] if problem else []
    for dotted, kind in OPTIONAL:
        found, value = _lookup(data, dotted)
        problem = _type_problem(dotted, value, kind) if found and value is not None else None
        problems += [problem] if problem else []
    problems += [f"{path} is not a finite number" for path in _non_finite(data)]
    problems += list(_bad_estimates(data.get("metrics"), "metrics"))
    errors = _lookup(data, "metrics.errors")[1]
    for domain, cells in errors.items() if isinstance(errors, dict) else ():
        if not isinstance(cells, dict):
            problems.append(f"metrics.errors.{domain} is {cells!r}, expected an object")
            continue
        problems += [f"metrics.errors.{domain}.{s} is {e!r}, expected a number" for s, e in cells.items()
                     if _type_problem("", e, "number")]
    for key in ("resamples", "seed"):
        found, value = _lookup(data, f"metrics.bootstrap.{key}")
        if isinstance(_lookup(data, "metrics.bootstrap")[1], dict) and \
                (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            problems.append(f"metrics.bootstrap.{key} is {value!r}, expected an integer >= 0")
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
                           fingerprint=dataset.get("fingerprint"), version=dataset.get("version")),
        model=ModelRef(id=model["id"], family=model["family"], pretrained=model["pretrained"],
                       parameters=model.get("parameters"),
                       checkpoint_sha256=(model.get("checkpoint") or {}).get("sha256")),
        metrics=metrics, limit=run.get("limit"), dtype=run.get("dtype"), versions=data["versions"],
        predictions=data.get("predictions") or {}, data=data)


def load_results(path: str | Path) -> Results:
    """Reads and validates a results file; raises ResultsError listing every problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(str(path), ["no such file"]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsError(str(path), [f"not valid JSON ({error})"]) from None
    return Results.parse(data, str(path))


def write_results(path: str | Path, results: Mapping[str, Any]) -> None:
    atomic_write_text(Path(path), json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
