"""The source study's published table and the models behind it, as shipped in imagenet_textcorrupt/data/
(`study_models.yaml` names the source, commit and licence; `study_results.csv` is the study's result.csv,
unchanged), and which of its models a results file is.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from typing import Any

from imagenet_textcorrupt.errors import DataFileError
from imagenet_textcorrupt.resources import data_path, read_text, read_yaml
from imagenet_textcorrupt.study_protocol import COLUMNS

MODELS_FILE = "study_models.yaml"


@dataclass(frozen=True)
class StudyModel:
    name: str  # the study's name (its CSV's Model column)
    spec: str  # the torchvision spec of the weights its evaluate.py loads
    checkpoint_hint: str | None = None  # a checkpoint's file name holds this (the study's own checkpoints)
    checkpoint: str | None = None  # where that checkpoint comes from


@dataclass(frozen=True)
class StudyReference:
    source: str  # repository, path and commit
    licence: str
    models: dict[str, StudyModel]  # in the study's row order
    figures: dict[str, dict[str, float]]  # model -> column -> top-1 in %

    def match(self, spec: str, checkpoint_file: str | None) -> StudyModel | None:
        """The study model a result is: its spec, and for the study's own checkpoints a checkpoint whose file name
        holds the hint (a result without a checkpoint, or with another one, is the plain weights')."""
        name = (checkpoint_file or "").lower()
        candidates = [m for m in self.models.values() if m.spec == spec]
        hinted = [m for m in candidates if m.checkpoint_hint and m.checkpoint_hint in name]
        if hinted:
            return hinted[0]
        plain = [m for m in candidates if not m.checkpoint_hint]
        return plain[0] if plain else None


@functools.cache
def load_reference() -> StudyReference:
    """The shipped reference, checked: every model of the table has a spec and every spec a row."""
    file = str(data_path(MODELS_FILE))
    data = read_yaml(data_path(MODELS_FILE))
    results_file = data["results_file"]
    rows = list(csv.reader(io.StringIO(read_text(results_file))))
    if tuple(rows[0]) != ("Model", *COLUMNS):
        raise DataFileError(results_file, "header", f"is {rows[0]}, expected Model, {', '.join(COLUMNS)}")
    figures = {row[0]: {c: float(v) for c, v in zip(COLUMNS, row[1:])} for row in rows[1:] if row}
    models: dict[str, StudyModel] = {}
    for name, entry in data["models"].items():
        if not isinstance(entry, dict) or not str(entry.get("spec", "")).startswith("torchvision:"):
            raise DataFileError(file, f"models.{name}", "needs a torchvision: spec")
        models[str(name)] = StudyModel(str(name), entry["spec"], entry.get("checkpoint_hint"), entry.get("checkpoint"))
    if list(models) != list(figures):
        raise DataFileError(file, "models", f"name {sorted(set(models) ^ set(figures))} apart from {results_file}'s "
                                            f"rows: the two must list the same models")
    source = f"{data['source']} {data['path']} at commit {data['commit']}"
    return StudyReference(source, data["licence"], models, figures)


def describe(reference: StudyReference) -> dict[str, Any]:
    return {"source": reference.source, "licence": reference.licence}
