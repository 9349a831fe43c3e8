"""Our figures beside the source study's: per results file (one of the study's models) and per column of its table
(Original, the five domains, Average), the study's top-1, ours under its protocol with the 95% interval, the
difference, whether the study's figure lies outside our interval, and our paired drop and flip rate.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text
from imagenet_textcorrupt.compare_study.paired import (PAIRED_DESCRIPTION, PAIRED_PROTOCOL, STUDY_PROTOCOL,
                                                       PairedModel, model_intro, paired_markdown)
from imagenet_textcorrupt.compare_study.reference import StudyReference
from imagenet_textcorrupt.estimate import MISSING, Estimate, format_estimate, format_number
from imagenet_textcorrupt.study_protocol import AVERAGE, COLUMNS, DESCRIPTION, EDITED_COLUMNS, ORIGINAL

ROUNDING = 0.05  # the study's table gives one decimal: its figure is within this of the exact one (percentage points)


@dataclass(frozen=True)
class Row:
    """One column of the study's table for one model; percentages, None where undefined."""

    column: str
    study: float | None
    ours: float | None
    ours_low: float | None
    ours_high: float | None
    difference: float | None  # ours - study, in percentage points
    outside: bool | None  # the study's figure lies outside our interval (None: no interval)
    drop: Estimate | None  # our paired figures (none for Original)
    flip_rate: Estimate | None
    rows: int | None  # the rows of the domain (None for Average)
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["drop"] = self.drop.to_json() if self.drop else None
        data["flip_rate"] = self.flip_rate.to_json() if self.flip_rate else None
        return data


@dataclass(frozen=True)
class ModelRows:
    """The comparison of one results file with the study's row of its model."""

    study_model: str
    model: str  # the results' model id
    results: str  # the results file
    release: str  # what is known of the release it was scored on
    recipe: str
    sources: int
    checkpoint: str | None  # "file (sha256 1a2b3c4d)"
    verified: str  # how the figures were checked
    rows: list[Row]
    notes: list[str] = field(default_factory=list)

    @property
    def outside(self) -> int:
        return sum(bool(r.outside) for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "rows"}
        tag = {"recipe": self.recipe, "protocol": STUDY_PROTOCOL}
        return {**data, **tag, "rows": [{**r.to_json(), **tag} for r in self.rows], "outside": self.outside}


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def model_rows(reference: StudyReference, study_model: str, figures: dict[str, Any], metrics: Any
               ) -> tuple[list[Row], list[str]]:
    """The rows of one model: `figures` is its `study_protocol` block, `metrics` its typed paired metrics."""
    study = reference.figures[study_model]
    top1 = figures["top1"]
    average_of = list(figures.get("average_of") or ())
    rows, notes = [], []
    missing = [c for c in EDITED_COLUMNS if c not in top1]
    if missing:
        notes.append(f"the release has no rows of {', '.join(missing)}: the Average is over "
                     f"{', '.join(average_of) or 'nothing'}, and so is the study's figure set beside it")
    for column in (c for c in COLUMNS if c in top1):
        estimate = Estimate.from_json(top1[column]) or Estimate(None)
        reference_value: float | None = study[column]
        note = None
        if column == AVERAGE and average_of != list(EDITED_COLUMNS):
            reference_value = sum(study[c] for c in average_of) / len(average_of) if average_of else None
            note = f"the study's mean over {', '.join(average_of)} (its Average, over all five: {study[AVERAGE]:g})"
        ours, low, high = _pct(estimate.value), _pct(estimate.ci_low), _pct(estimate.ci_high)
        difference = None if ours is None or reference_value is None else ours - reference_value
        outside = None
        if reference_value is not None and low is not None and high is not None:
            outside = not (low - ROUNDING <= reference_value <= high + ROUNDING)
        if column == ORIGINAL:
            paired = None
        elif column == AVERAGE:
            paired = metrics.edited  # every text-guided edit, pooled
        else:
            paired = metrics.by_domain.get(column.lower())
        rows.append(Row(column, reference_value, ours, low, high, difference, outside,
                        paired.get("drop") if paired else None, paired.get("flip_rate") if paired else None,
                        (figures.get("rows") or {}).get(column), note))
    return rows, notes


# ------------------------------------------------------------------------------------------------------ writing
def _cell(value: float | None, signed: bool = False) -> str:
    return format_number(value, signed) if value is not None and math.isfinite(value) else MISSING


def _ours(row: Row) -> str:
    return format_estimate(Estimate(row.ours, row.ours_low, row.ours_high), scale=1.0)


def _outside(row: Row) -> str:
    return MISSING if row.outside is None else ("yes" if row.outside else "no")


def markdown(models: list[ModelRows], reference: StudyReference, plot: str | None,
             paired: list[PairedModel] | None = None) -> str:
    """The study's table beside ours under its protocol; with `paired` (results on the study-paired release), then
    the same images under our protocol, each under a heading naming its protocol."""
    if not models:
        return "\n".join(paired_markdown(paired or [])).rstrip() + "\n"
    columns = [c for c in COLUMNS if any(r.column == c for m in models for r in m.rows)]
    title = "# Our figures beside the source study's" + (": the study's protocol (unpaired, one template per "
                                                          "domain)" if paired else "")
    lines = [title, "",
             f"The study's table: {reference.source} ({reference.licence}). Ours under its protocol "
             f"({DESCRIPTION}), with 95% bootstrap intervals over source images. *Outside*: the study's figure lies "
             f"outside our interval (allowing {ROUNDING:g} for its rounding to one decimal). *Drop* and *flip rate* "
             "are our paired figures, each edit against its own original, which the study's protocol could not "
             "compute; on the Average row, over every edit. Figures in %, differences in percentage points "
             "(ours − study).", "",
             "## Ours − study", "",
             "| model | " + " | ".join(columns) + " | outside our interval |",
             "| --- | " + " | ".join("---:" for _ in columns) + " | ---: |"]
    for model in models:
        by_column = {r.column: r for r in model.rows}
        cells = []
        for column in columns:
            row = by_column.get(column)
            text = _cell(row.difference, signed=True) if row else MISSING
            cells.append(f"**{text}**" if row and row.outside else text)
        lines.append(f"| {model.study_model} | " + " | ".join(cells) + f" | {model.outside} of {len(model.rows)} |")
    lines += ["", "Bold: outside our interval.", ""]
    if plot:
        lines += [f"![the study's top-1 against ours, per model]({plot})", ""]
    for model in models:
        lines += model_intro(model, f"## {model.study_model}: {model.model}")
        lines += ["| column | study | ours [95% CI] | difference | outside | drop [95% CI] | flip rate [95% CI] "
                  "| rows |", "| --- | ---: | ---: | ---: | :---: | ---: | ---: | ---: |"]
        for row in model.rows:
            study = _cell(row.study) + (" ¹" if row.note else "")
            lines.append(f"| {row.column} | {study} | {_ours(row)} | {_cell(row.difference, signed=True)} | "
                         f"{_outside(row)} | {format_estimate(row.drop)} | {format_estimate(row.flip_rate)} | "
                         f"{MISSING if row.rows is None else row.rows} |")
        lines += [f"\n¹ {row.note}" for row in model.rows if row.note]
        lines.append("")
    if paired:
        lines += paired_markdown(paired)
    return "\n".join(lines).rstrip() + "\n"


CSV_FIELDS = ("study_model", "model", "results", "column", "study", "ours", "ours_ci_low", "ours_ci_high",
              "difference", "outside", "drop", "drop_ci_low", "drop_ci_high", "flip_rate", "flip_rate_ci_low",
              "flip_rate_ci_high", "rows", "recipe", "protocol", "severity", "study_protocol",
              "study_protocol_ci_low", "study_protocol_ci_high", "study_protocol_from")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _percents(*estimates: Estimate | None) -> list[float | None]:
    values: list[float | None] = []
    for estimate in estimates:
        e = estimate or Estimate(None)
        values += [_round(_pct(e.value)), _round(_pct(e.ci_low)), _round(_pct(e.ci_high))]
    return values


def table_csv(models: list[ModelRows], paired_models: list[PairedModel] | None = None) -> str:
    """Both tables' rows, each with its recipe and protocol: `study` (ours under the study's protocol beside its
    figure) and `paired` (our paired figures on the study-paired release; `ours` is the edited top-1, `study` the
    study's published figure and `study_protocol` the figure set beside ours, from `study_protocol_from`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for model in models:
        for row in model.rows:
            values = [model.study_model, model.model, model.results, row.column, row.study, _round(row.ours),
                      _round(row.ours_low), _round(row.ours_high), _round(row.difference),
                      None if row.outside is None else str(row.outside).lower(),
                      *_percents(row.drop, row.flip_rate), row.rows, model.recipe, STUDY_PROTOCOL,
                      None, None, None, None, None]
            writer.writerow(["" if v is None else v for v in values])
    for paired in paired_models or []:
        for p in paired.rows:
            values = [paired.study_model, paired.model, paired.results, p.column, p.study,
                      *_percents(p.top1), None, None, *_percents(p.drop, p.flip_rate), p.rows, paired.recipe,
                      PAIRED_PROTOCOL, p.severity, *_percents(p.study_protocol),
                      paired.study_protocol_from if p.study_protocol else None]
            writer.writerow(["" if v is None else v for v in values])
    return buffer.getvalue()



def write_tables(out: Path, models: list[ModelRows], reference: StudyReference, plot: str | None,
                 paired: list[PairedModel] | None = None) -> dict[str, Path]:
    paths = {"markdown": out / "compare_study.md", "csv": out / "compare_study.csv", "json": out / "compare_study.json"}
    atomic_write_text(paths["markdown"], markdown(models, reference, plot, paired))
    atomic_write_text(paths["csv"], table_csv(models, paired))
    document = {"reference": {"source": reference.source, "licence": reference.licence}, "protocol": DESCRIPTION,
                "rounding": ROUNDING, "plot": plot, "models": [m.to_json() for m in models]}
    if paired:
        document.update(paired_protocol=PAIRED_DESCRIPTION, paired=[m.to_json() for m in paired])
    atomic_write_text(paths["json"], json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return paths
