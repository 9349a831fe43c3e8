"""`imagenet-tc compare-study`: our results set beside the source study's published table (Mofayezi & Medghalchi,
CVPR 2023 Workshops; its result.csv is shipped in imagenet_textcorrupt/data/ with its source and licence).

Each results file must be one of the study's 26 models (its torchvision spec, `reference.py`, or `--study-model
FILE=NAME`) scored on a release of the `study` or `study-paired` recipe, config `all`; one result per study model
and recipe. The results are grouped by recipe into two tables:

- `study` results: the study's table beside ours under its protocol. Their figures under the study's protocol
  (`study_protocol.py`) come from the predictions file when it is beside the results (checked against the
  `study_protocol` block `evaluate --protocol study` stored, and the paired metrics against their predictions, as
  `verify_results` does), else from that block. Per model and column: the study's figure, ours with its 95%
  interval, the difference, whether the study's figure is outside our interval, our paired drop and flip rate.
- `study-paired` results (the same originals, edited with our hierarchy's prompts and severities; `paired.py`):
  the same images under our protocol. Per model and domain, per severity where the results have several: our paired
  edited top-1, drop and flip rate with their 95% intervals (verified against the predictions when beside), and
  beside each domain the study-protocol figure of the same model, from its `study` results when given, else the
  study's published figure.

Written to `--out`: compare_study.md (each table under a heading naming its protocol), compare_study.csv and .json
(the same rows, each with its recipe and protocol), and, for the study table, study_vs_ours.png.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagenet_textcorrupt.errors import ImageNetTCError, closest
from imagenet_textcorrupt.schema import DEFAULT_CONFIG

if TYPE_CHECKING:  # the tables import numpy (study_protocol): not for the CLI's start (tests/test_cli.py)
    from imagenet_textcorrupt.compare_study.paired import PairedModel
    from imagenet_textcorrupt.compare_study.reference import StudyReference
    from imagenet_textcorrupt.compare_study.table import ModelRows

STUDY_RECIPES = ("study", "study-paired")  # recipe names, with or without the "imagenet-tc-" of their `name`
STUDY_RECIPE, PAIRED_RECIPE = STUDY_RECIPES
PLOT_FILE = "study_vs_ours.png"


class CompareStudyError(ImageNetTCError):
    """Results that cannot be set beside the study's table; names each file and why."""


def is_study_recipe(name: str | None) -> bool:
    return name is not None and recipe_kind(name) in STUDY_RECIPES


def recipe_kind(name: str) -> str:
    """`study` or `study-paired` (for a study recipe's name)."""
    return name.removeprefix("imagenet-tc-")


@dataclass(frozen=True)
class Comparison:
    models: list[ModelRows]
    reference: StudyReference
    outputs: dict[str, Path]  # markdown, csv, json, plot
    points: dict[str, list[tuple[float, float, str]]]  # per study model, the plot's (study, ours, column)
    paired: list[PairedModel] = field(default_factory=list)  # the second table: study-paired results, our protocol


def _predictions_file(path: Path, results: Any) -> Path:
    from imagenet_textcorrupt.results import predictions_path

    return path.parent / Path(str(results.predictions.get("file") or predictions_path(path).name)).name


def _study_figures(path: Path, results: Any) -> tuple[dict[str, Any], str]:
    """(the study-protocol block, how it was checked): recomputed from the predictions beside the results (and the
    stored block, if any, must agree), else the stored block."""
    from imagenet_textcorrupt import metrics
    from imagenet_textcorrupt.results import CHECKED, read_predictions, verify_results
    from imagenet_textcorrupt.study_protocol import differences, study_figures

    claimed = results.data.get("study_protocol")
    file = _predictions_file(path, results)
    if not file.is_file():
        if claimed is None:
            raise CompareStudyError(f"{path}: no study_protocol figures (evaluate with --protocol study) and no "
                                    f"predictions file {file.name} beside it to compute them from")
        return claimed, f"not verified (no predictions file {file.name} beside it)"
    _, status = verify_results(path)  # the paired metrics against the predictions (ResultsError when they differ)
    bootstrap = (claimed or {}).get("bootstrap") or {}
    resamples = bootstrap.get("resamples", metrics.DEFAULT_RESAMPLES if results.metrics.resamples is None
                              else results.metrics.resamples)
    seed = bootstrap.get("seed", results.metrics.seed)
    recomputed = study_figures(read_predictions(file), resamples, seed)
    if claimed is not None:
        import numpy

        found = differences(claimed, recomputed, intervals=results.versions.get("numpy") == numpy.__version__)
        if found:
            raise CompareStudyError(f"{path}: its study_protocol figures differ from those recomputed from "
                                    f"{file.name}: {'; '.join(found[:4])}")
    how = "recomputed from its predictions" + ("" if claimed is None else ", as stored")
    paired = "paired metrics verified" if status == CHECKED else f"paired metrics not verified ({status})"
    return recomputed, f"{how}; {paired}"


def _paired_verified(path: Path) -> str:
    """How the paired metrics of results on the study-paired release were checked (ResultsError when they differ
    from their predictions)."""
    from imagenet_textcorrupt.results import CHECKED, verify_results

    _, status = verify_results(path)
    return "paired metrics verified" if status == CHECKED else f"paired metrics not verified ({status})"


def _refusal(path: Path, results: Any) -> str | None:
    recipe = results.dataset.recipe
    if recipe is None:
        return (f"{path}: its release records no recipe (a Hub dataset, a release folder without release.json, or "
                f"results of an older imagenet-tc): compare-study needs results on a release of the study recipe, "
                f"python -m builder build --recipe study")
    if not is_study_recipe(recipe):
        return (f"{path}: scored on a release of recipe {recipe!r}, not the study's: the study's table is on its own "
                f"images (build them with python -m builder build --recipe study)")
    if results.dataset.config != DEFAULT_CONFIG:
        return (f"{path}: config {results.dataset.config!r} holds only some of the study's classes; its table is over "
                f"all of them: evaluate --config {DEFAULT_CONFIG}")
    return None


def _match(path: Path, results: Any, reference: StudyReference, named: str | None) -> str:
    if named is not None:
        if named not in reference.models:
            suggestions = closest(named, reference.models)
            hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
            raise CompareStudyError(f"--study-model {path}={named}: the study has no model {named!r}{hint}")
        return named
    checkpoint = (results.data.get("model") or {}).get("checkpoint") or {}
    found = reference.match(results.model.id, checkpoint.get("file"))
    if found is None:
        raise CompareStudyError(
            f"{path}: model {results.model.id!r} is none of the study's {len(reference.models)} models (their "
            f"torchvision specs are in imagenet_textcorrupt/data/study_models.yaml, e.g. "
            f"{next(iter(reference.models.values())).spec}); set it beside one with --study-model {path}=NAME")
    return found.name


def _describe_checkpoint(results: Any) -> str | None:
    checkpoint = (results.data.get("model") or {}).get("checkpoint")
    if not isinstance(checkpoint, Mapping):
        return None
    return f"{checkpoint.get('file')} (sha256 {str(checkpoint.get('sha256'))[:8]})"


def compare_study(paths: Sequence[str | Path], out: str | Path,
                  study_models: Mapping[str, str] | None = None) -> Comparison:
    """Compares each results file with the study's row of its model and writes the tables and the plot into `out`.
    `study_models`: results file -> the study's model name, for results the specs do not match (or to override)."""
    from imagenet_textcorrupt.compare_study.paired import FROM_RESULTS, FROM_TABLE, PairedModel, paired_rows
    from imagenet_textcorrupt.compare_study.plot import draw_plot
    from imagenet_textcorrupt.compare_study.reference import load_reference
    from imagenet_textcorrupt.compare_study.table import ModelRows, model_rows, write_tables
    from imagenet_textcorrupt.results import ResultsError, load_results

    reference = load_reference()
    named = {Path(k).resolve(): v for k, v in (study_models or {}).items()}
    unknown = [k for k in named if k not in {Path(p).resolve() for p in paths}]
    if unknown:
        raise CompareStudyError(f"--study-model names {unknown[0]}, which is not among the results given")
    models: list[ModelRows] = []
    refused: list[str] = []
    seen: dict[tuple[str, str], Path] = {}
    figures_of: dict[str, tuple[dict[str, Any], Path]] = {}  # study model -> its study-protocol figures, results
    on_paired: list[tuple[Path, Any, str, str]] = []  # (path, results, study model, how verified)
    for path in map(Path, paths):
        try:
            results = load_results(path)
            refusal = _refusal(path, results)
            if refusal:
                refused.append(refusal)
                continue
            name = _match(path, results, reference, named.get(path.resolve()))
            recipe = recipe_kind(results.dataset.recipe)
            if (name, recipe) in seen:
                refused.append(f"{path}: a second result for the study's {name} (the first: {seen[name, recipe]}; "
                               f"one per model and recipe, here {recipe})")
                continue
            seen[name, recipe] = path
            if recipe == PAIRED_RECIPE:
                on_paired.append((path, results, name, _paired_verified(path)))
                continue
            figures, verified = _study_figures(path, results)
        except (ResultsError, CompareStudyError) as error:
            refused.append(str(error))
            continue
        figures_of[name] = figures, path
        rows, notes = model_rows(reference, name, figures, results.metrics)
        notes += [f"cannot be ranked beside full evaluations: {p}" for p in results.comparability_problems()]
        models.append(ModelRows(name, results.model.id, str(path), results.dataset.revision_label,
                                str(results.dataset.recipe), results.metrics.sources, _describe_checkpoint(results),
                                verified, rows, notes))
    if refused:
        raise CompareStudyError("; ".join(refused))
    if not models and not on_paired:
        raise CompareStudyError("no results to compare")
    paired: list[PairedModel] = []
    for path, results, name, verified in on_paired:
        figures, study_path = figures_of.get(name, (None, None))
        beside = FROM_TABLE if study_path is None else f"{FROM_RESULTS} ({study_path})"
        paired.append(PairedModel(name, results.model.id, str(path), results.dataset.revision_label,
                                  str(results.dataset.recipe), results.metrics.sources, _describe_checkpoint(results),
                                  verified, beside, paired_rows(reference, name, results.metrics, figures),
                                  [f"cannot be ranked beside full evaluations: {p}"
                                   for p in results.comparability_problems()]))
    order = list(reference.models)
    models.sort(key=lambda m: order.index(m.study_model))
    paired.sort(key=lambda m: order.index(m.study_model))
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CompareStudyError(f"--out {out}: cannot create it ({error.strerror})") from None
    points = draw_plot(models, out / PLOT_FILE) if models else {}
    outputs = write_tables(out, models, reference, PLOT_FILE if models else None, paired)
    if models:
        outputs["plot"] = out / PLOT_FILE
    return Comparison(models, reference, outputs, points, paired)


__all__ = ["PAIRED_RECIPE", "PLOT_FILE", "STUDY_RECIPE", "STUDY_RECIPES", "CompareStudyError", "Comparison", "compare_study", "is_study_recipe"]
