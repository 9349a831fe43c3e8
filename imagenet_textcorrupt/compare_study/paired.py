"""The second table of `compare-study`: the same images, our protocol. Results of a `study-paired` release (the
study's 1,000 originals edited with our hierarchy's prompts and severities) give per model and domain our paired
edited top-1, drop (clean − edited, on the same images) and flip rate, each with its 95% interval, per severity
where the results have several; beside each domain, the study-protocol figure of the same model: ours from its
`study` results when they were given, else the study's published figure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from imagenet_textcorrupt.compare_study.reference import StudyReference
from imagenet_textcorrupt.estimate import MISSING, Estimate, format_estimate
from imagenet_textcorrupt.study_protocol import AVERAGE, EDITED_COLUMNS, ORIGINAL

ALL_EDITS = "All edits"
ALL_SEVERITIES = "all"
PAIRED_PROTOCOL = "paired"
STUDY_PROTOCOL = "study"
PAIRED_DESCRIPTION = ("ours: each edit scored against its own original (drop = clean − edited top-1 on the same "
                      "images, flip rate = share of edits whose top-1 differs from their original's), every template "
                      "and severity of our hierarchy, 95% bootstrap intervals over source images")
FROM_RESULTS = "ours under the study's protocol, on the study release"
FROM_TABLE = "the study's published table"


@dataclass(frozen=True)
class PairedRow:
    """One domain (or the originals, or all edits pooled) at one severity ("all": every severity)."""

    column: str  # Original, a study domain, or "All edits"
    severity: str
    top1: Estimate | None  # ours, paired: the edited top-1 (the originals' top-1 on the Original row)
    drop: Estimate | None
    flip_rate: Estimate | None
    rows: int | None
    study_protocol: Estimate | None  # beside the severity "all" rows: the study-protocol figure (a fraction)
    study: float | None = None  # the study's published figure (%) on the severity "all" rows (Average: all edits)
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("top1", "drop", "flip_rate", "study_protocol"):
            value = getattr(self, name)
            data[name] = value.to_json() if value else None
        return data


@dataclass(frozen=True)
class PairedModel:
    """The `study-paired` results of one of the study's models."""

    study_model: str
    model: str
    results: str
    release: str
    recipe: str
    sources: int
    checkpoint: str | None
    verified: str
    study_protocol_from: str  # FROM_RESULTS (and which file) or FROM_TABLE
    rows: list[PairedRow]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "rows"}
        tag = {"recipe": self.recipe, "protocol": PAIRED_PROTOCOL}
        return {**data, **tag, "rows": [{**r.to_json(), **tag} for r in self.rows]}


def _severities(block: Any) -> list[str]:
    keys = list(block) if isinstance(block, dict) else []
    return sorted(keys, key=lambda s: (0, int(s)) if str(s).lstrip("-").isdigit() else (1, str(s)))


def paired_rows(reference: StudyReference, study_model: str, metrics: Any, figures: dict[str, Any] | None
                ) -> list[PairedRow]:
    """The rows of one model: `metrics` its typed paired metrics on the study-paired release, `figures` the
    `study_protocol` block of its `study` results (None: the study's published figures stand beside)."""
    tree = metrics.tree
    several = len(metrics.by_severity) > 1  # per-severity rows only where the results have severities
    by_domain_severity = tree.get("by_domain_severity") or {}

    published = reference.figures[study_model]

    def beside(column: str) -> Estimate | None:
        if figures is not None:
            return Estimate.from_json((figures.get("top1") or {}).get(column))
        value = published.get(column)
        return None if value is None else Estimate(value / 100)

    def block_rows(column: str, block: Any) -> PairedRow:
        study_column = AVERAGE if column == ALL_EDITS else column
        return PairedRow(column, ALL_SEVERITIES, block.get("top1"), block.get("drop"), block.get("flip_rate"),
                         _n(tree, column), beside(study_column), published.get(study_column))

    rows = [PairedRow(ORIGINAL, ALL_SEVERITIES, metrics.clean.get("top1"), None, None,
                      (tree.get("clean") or {}).get("n"), beside(ORIGINAL), published.get(ORIGINAL))]
    known = [c for c in EDITED_COLUMNS if c.lower() in metrics.by_domain]
    others = sorted(d for d in metrics.by_domain if d not in {c.lower() for c in EDITED_COLUMNS})
    for column, domain in [(c, c.lower()) for c in known] + [(d, d) for d in others]:
        rows.append(block_rows(column, metrics.by_domain[domain]))
        if several:
            for severity in _severities(by_domain_severity.get(domain)):
                block = by_domain_severity[domain][severity]
                rows.append(PairedRow(column, str(severity), Estimate.from_json(block.get("top1")),
                                      Estimate.from_json(block.get("drop")), Estimate.from_json(block.get("flip_rate")),
                                      block.get("n"), None))
    rows.append(replace(block_rows(ALL_EDITS, metrics.edited),
                        note="beside it the study-protocol Average: the mean of the domains' top-1, where ours pools "
                             "every edit"))
    if several:
        for severity in _severities(metrics.by_severity):
            block = metrics.by_severity[severity]
            rows.append(PairedRow(ALL_EDITS, str(severity), block.get("top1"), block.get("drop"),
                                  block.get("flip_rate"), (tree["by_severity"].get(severity) or {}).get("n"), None))
    return rows


def _n(tree: dict[str, Any], column: str) -> int | None:
    block = tree.get("edited") if column == ALL_EDITS else (tree.get("by_domain") or {}).get(column.lower())
    return (block or {}).get("n")


def model_intro(model: Any, title: str, more: str = "") -> list[str]:
    """A model's section head in either table: its title, the results and release its figures come from, and its
    notes."""
    weights = f"; weights from --checkpoint {model.checkpoint}" if model.checkpoint else ""
    lines = [title, "", f"Results `{model.results}`, on {model.release} (recipe {model.recipe}), {model.sources} "
                        f"source images{weights}; {model.verified}.{more}", ""]
    lines += [f"- {note}" for note in model.notes]
    return lines + ([""] if model.notes else [])


def paired_markdown(models: list[PairedModel], heading: str = "#") -> list[str]:
    lines = [f"{heading} The same images, our protocol (paired, with 95% intervals)", "",
             "Results on the `study-paired` release: the study's originals, edited with our hierarchy's prompts and "
             f"severities. Figures {PAIRED_DESCRIPTION}; in %. *Study protocol*: the same model's top-1 under the "
             "study's protocol (unpaired, one template per domain), from its results on the `study` release when "
             "they were given, else the study's published figure; set beside each domain over all severities.", "",
             "| model | " + " | ".join(["Original top-1", *(f"{c} drop" for c in EDITED_COLUMNS), "All edits drop",
                                         "All edits flip rate"]) + " |",
             "| --- | " + " | ".join("---:" for _ in range(len(EDITED_COLUMNS) + 3)) + " |"]
    for model in models:
        cell = {(r.column, r.severity): r for r in model.rows}
        original = cell.get((ORIGINAL, ALL_SEVERITIES))
        drops = [format_estimate(cell[(c, ALL_SEVERITIES)].drop) if (c, ALL_SEVERITIES) in cell else MISSING
                 for c in EDITED_COLUMNS]
        pooled = cell.get((ALL_EDITS, ALL_SEVERITIES))
        lines.append(f"| {model.study_model} | " + " | ".join(
            [format_estimate(original.top1 if original else None), *drops,
             format_estimate(pooled.drop if pooled else None),
             format_estimate(pooled.flip_rate if pooled else None)]) + " |")
    lines.append("")
    for model in models:
        lines += model_intro(model, f"{heading}# {model.study_model}: {model.model} (paired)",
                             f" Study protocol: {model.study_protocol_from}.")
        lines += ["| domain | severity | study protocol | top-1 [95% CI] | drop [95% CI] | flip rate [95% CI] | rows |",
                  "| --- | :---: | ---: | ---: | ---: | ---: | ---: |"]
        for row in model.rows:
            study = format_estimate(row.study_protocol) + (" ¹" if row.note else "")
            lines.append(f"| {row.column} | {row.severity} | {study} | {format_estimate(row.top1)} | "
                         f"{format_estimate(row.drop)} | {format_estimate(row.flip_rate)} | "
                         f"{MISSING if row.rows is None else row.rows} |")
        lines += [f"\n¹ {row.note}" for row in model.rows if row.note]
        lines.append("")
    return lines


__all__ = ["ALL_EDITS", "ALL_SEVERITIES", "FROM_RESULTS", "FROM_TABLE", "PAIRED_DESCRIPTION", "PAIRED_PROTOCOL",
           "STUDY_PROTOCOL", "PairedModel", "PairedRow", "paired_markdown", "paired_rows"]
