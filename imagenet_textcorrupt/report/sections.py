"""Which results share a table: results are grouped into sections by what makes them comparable (the same rows,
revision and formulas), each model gets one column title, and each section says why it is apart from the others
and what a reader must know before comparing its columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from imagenet_textcorrupt.results.format import Results, short_digest
from imagenet_textcorrupt.schema import path_component

# what makes two results comparable: (what the note calls it, how to read it from a result)
IDENTITY_FIELDS: tuple[tuple[str, Callable[[Results], Any]], ...] = (
    ("dataset id", lambda r: r.dataset.id),
    ("dataset split", lambda r: r.dataset.split),
    ("config", lambda r: r.dataset.config),
    ("dataset sha", lambda r: r.dataset.sha),
    ("dataset fingerprint", lambda r: r.dataset.fingerprint),
    ("dataset version", lambda r: r.dataset.version),
    ("metrics version", lambda r: r.metrics.version),
)


def identity(results: Results) -> tuple[Any, ...]:
    """What two results must share to be compared in one table."""
    return tuple(read(results) for _, read in IDENTITY_FIELDS)


@dataclass
class Column:
    """One model's column of a section: its title and its results."""

    label: str
    results: Results

    @property
    def family(self) -> str:
        return self.results.model.family or "other"


@dataclass
class Section:
    number: int
    key: tuple[Any, ...]
    columns: list[Column] = field(default_factory=list)
    suffix: str = ""  # added to the plots' file names when there are several sections

    @property
    def results(self) -> Results:
        return self.columns[0].results

    @property
    def level(self) -> str:
        return confidence_label([c.results for c in self.columns])

    @property
    def title(self) -> str:
        dataset, version = self.results.dataset, self.results.metrics.version
        return f"{dataset.id} · config {dataset.config} · {dataset.revision_label} · metrics {version}"


def confidence_label(results: Sequence[Results]) -> str:
    """The interval level the results were computed at, as `95%` (`mixed-level` if they differ)."""
    levels = {r.metrics.confidence for r in results}
    if len(levels) != 1 or not isinstance(next(iter(levels)), (int, float)):
        return "mixed-level"
    return f"{100 * next(iter(levels)):g}%"


def model_labels(results: Sequence[Results | Mapping[str, Any]]) -> list[str]:
    """One column title per result: the model id, with the config, dataset revision, checkpoint, dtype or a
    counter added where two would otherwise be equal."""
    parsed = [Results.parse(r, f"results[{i}]") for i, r in enumerate(results)]
    details: list[Callable[[Results], Any]] = [
        lambda r: r.dataset.config,
        lambda r: r.dataset.revision_label,
        lambda r: short_digest(r.model.checkpoint_sha256),
        lambda r: r.dtype,
    ]
    ids = [r.model.id for r in parsed]
    labels = list(ids)
    extras: list[list[str]] = [[] for _ in parsed]
    for detail in details:
        clashing = [i for i, label in enumerate(labels) if labels.count(label) > 1]
        if not clashing:
            break
        values = {i: detail(parsed[i]) for i in clashing}
        for i in clashing:
            same = [j for j in clashing if labels[j] == labels[i]]
            if values[i] is not None and len({str(values[j]) for j in same}) > 1:
                extras[i].append(str(values[i]))
        labels = [f"{model} ({', '.join(e)})" if e else model for model, e in zip(ids, extras)]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if labels.count(label) == 1 else f"{label} #{seen[label]}")
    return unique


def group_results(results: Sequence[Results]) -> list[Section]:
    """Sections of comparable results, in the order their first result was given."""
    sections: dict[tuple[Any, ...], Section] = {}
    for label, result in zip(model_labels(results), results):
        key = identity(result)
        if key not in sections:
            sections[key] = Section(len(sections) + 1, key)
        sections[key].columns.append(Column(label, result))
    ordered = list(sections.values())
    if len(ordered) > 1:
        for section in ordered:
            section.suffix = f"-{section.number}-{path_component(section.results.dataset.config)}"
    return ordered


def shown(value: Any) -> str:
    return "none" if value is None else str(value)


def separation_note(section: Section, sections: Sequence[Section]) -> str | None:
    """Why this section is apart from the others: the identity fields that differ, with both values."""
    if len(sections) < 2:
        return None
    reasons = []
    for index, (name, _) in enumerate(IDENTITY_FIELDS):
        others = [(s.number, s.key[index]) for s in sections if s is not section and s.key[index] != section.key[index]]
        if others:
            elsewhere = "; ".join(f"section {n}: {shown(v)}" for n, v in others)
            reasons.append(f"{name} is {shown(section.key[index])} ({elsewhere})")
    return ("**Kept apart from the other sections** because its " + ", its ".join(reasons) + ". Results on "
            "different dataset revisions, configs or metric versions are not comparable, so they never share a "
            "table or a plot.")


def section_warnings(section: Section) -> list[str]:
    """Things inside one section that a reader must know before comparing its columns."""
    notes = []
    dataset = section.results.dataset
    if dataset.sha is None and dataset.fingerprint is None and dataset.version is None:
        notes.append("The dataset revision of these results is unknown (no sha, fingerprint or version was "
                     "recorded): they may come from different revisions.")
    rows = {c.label: c.results.dataset.rows for c in section.columns}
    limits = {c.label: c.results.limit for c in section.columns}
    if len(set(rows.values())) > 1 or len(set(limits.values())) > 1:
        listed = ", ".join(f"{label}: {rows[label]} rows (limit {shown(limits[label])})" for label in rows)
        notes.append(f"These models were scored on different numbers of rows ({listed}): their figures cover "
                     f"different images; compare with care.")
    confidences = {c.results.metrics.confidence for c in section.columns}
    if len(confidences) > 1:
        notes.append(f"The intervals were computed at different confidence levels ({sorted(map(str, confidences))}).")
    return notes
