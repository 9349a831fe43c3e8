"""Writing a report: `imagenet-tc report RESULTS... --out DIR [--reference RESULTS]`.

`write_report` puts into one folder a Markdown report (`report.md`) with the models side by side, one column per
model, and PNG plots. Nothing is recomputed from predictions: every figure, interval included, is the one stored in
the results' metrics. With one section the plots are `accuracy_by_domain.png`, `clean_vs_edited.png` and
`accuracy_by_severity.png`; with several, each section's plots carry its number and config as a suffix
(`accuracy_by_domain-2-animals.png`). Given the results files, it also draws per model a contact sheet of the
edits that flipped its prediction in the domains of its largest drops (`flipped-<model>.png`) from the local
release folder the results were scored on, and links it (for the Hub: the `imagenet-tc show` command instead).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_bytes, atomic_write_text
from imagenet_textcorrupt.report.pictures import Picture, draw_pictures, pictures_markdown
from imagenet_textcorrupt.report.plots import PLOTTERS
from imagenet_textcorrupt.report.sections import Section, confidence_label, group_results, section_warnings, \
    separation_note
from imagenet_textcorrupt.report.tables import (domain_tables, group_tables, imagenet_c_tables, overview_table,
                                                severity_tables)
from imagenet_textcorrupt.results import Results, ResultsError, load_results

REPORT_FILE = "report.md"

HOW_TO_READ = """\
## How to read this

Every edit is scored against its own original photo. **Drop** is the paired clean top-1 (the originals of the \
edits counted, each once per edit) minus the edited top-1, in percentage points; it is not the clean top-1 of all \
originals minus the edited top-1 when images have different numbers of edits. **Relative robustness** is edited \
top-1 divided by paired clean top-1 (100% = no loss). **Flip rate** is the share of edits whose top-1 prediction \
differs from their original's, right or wrong. Intervals in brackets are {level} percentile bootstrap intervals that \
resample *source images* (an image's edits move together), so they reflect how many photos there are, not how many \
edits. "All 1000 classes" accuracies take the model's top class over all of ImageNet; the accuracies "among the \
config's classes only" mask the logits of the classes outside the config first (as ImageNet-R and ImageNet-A \
report theirs), which can only raise them: never compare one kind with the other. mCE (100 = the reference model) \
and effective robustness are shown only when a reference is given and when 3 or more models share a section. \
Results on different dataset revisions, configs or metric versions are in different sections and never compared.
"""


def _section_markdown(section: Section, sections: Sequence[Section], reference: Results | None,
                      plots: Mapping[str, str], pictures: Sequence[Picture] = ()) -> str:
    parts = [f"## {section.number}. {section.title}" if len(sections) > 1 else f"## {section.title}"]
    note = separation_note(section, sections)
    if note:
        parts.append(f"> {note}")
    parts += [f"> **Warning:** {warning}" for warning in section_warnings(section)]
    overview, notes = overview_table(section, reference)
    parts += ["### Overview", overview]
    if notes:
        parts.append("\n".join(f"- {n}" for n in notes))
    parts += ["### By domain", domain_tables(section.columns, section.level), "### By severity",
              severity_tables(section.columns, section.level)]
    corruptions = imagenet_c_tables(section.columns, section.level)
    if corruptions:
        parts += ["### ImageNet-C by severity", corruptions]
    parts += ["### By class group", group_tables(section.columns), "### Plots"]
    parts += [f"![{PLOTTERS[name][0]}]({file})" for name, file in plots.items()]
    if pictures:
        parts += ["### Pictures: the edits that flipped each model's prediction, where it dropped most",
                  pictures_markdown(pictures)]
    return "\n\n".join(parts)


def render_markdown(sections: Sequence[Section], reference: Results | None,
                    plots: Mapping[int, Mapping[str, str]],
                    pictures: Mapping[int, Sequence[Picture]] | None = None) -> str:
    count = sum(len(s.columns) for s in sections)
    intro = ["# ImageNet-TC report", f"{count} result{'s' if count != 1 else ''}, one column per model."]
    if len(sections) > 1:
        intro.append(f"**These results form {len(sections)} sections that are not comparable with each other** "
                     f"(different dataset revisions, configs or metric versions); each section has its own tables "
                     f"and its own plots (file names end in -<section>-<config>).")
    body = [_section_markdown(s, sections, reference, plots[s.number], (pictures or {}).get(s.number, ()))
            for s in sections]
    level = confidence_label([c.results for s in sections for c in s.columns])
    reading = HOW_TO_READ.format(level=level if level != "mixed-level" else "the stated-level")
    return "\n\n".join([*intro, *body, reading])


def write_report(results: Sequence[Results | Mapping[str, Any]], out: str | Path,
                 reference: Results | Mapping[str, Any] | None = None,
                 results_files: Sequence[str | Path] | None = None) -> dict[str, Path]:
    """Writes report.md and the PNG plots into the folder `out` (each file atomically) and returns
    {file name: path}. Results may be given parsed or as the JSON objects of results files; raises ResultsError
    naming the first one that does not have the results layout. With `results_files` (the files the results were
    read from, in the same order; their predictions lie beside them) each model also gets a contact sheet of its
    flipped edits."""
    if not results:
        raise ResultsError("results", ["no results to report"])
    parsed = [Results.parse(r, f"results[{i}]") for i, r in enumerate(results)]
    reference = Results.parse(reference, "reference") if reference is not None else None
    folder = Path(out)
    sections = group_results(parsed)
    written: dict[str, Path] = {}
    plots: dict[int, dict[str, str]] = {}
    for section in sections:
        plots[section.number] = {}
        for name, (_, plot) in PLOTTERS.items():
            file = f"{name}{section.suffix}.png"
            written[file] = atomic_write_bytes(folder / file, plot(section))
            plots[section.number][name] = file
    pictures: dict[int, list[Picture]] = {}
    if results_files is not None:
        files = {id(r): Path(f) for r, f in zip(parsed, results_files, strict=True)}
        for section in sections:
            pictures[section.number] = draw_pictures(section, files, folder)
            written.update({p.file: folder / p.file for p in pictures[section.number] if p.file})
    text = render_markdown(sections, reference, plots, pictures)
    written[REPORT_FILE] = atomic_write_text(folder / REPORT_FILE, text)
    return written


def report_main(paths: list[str], out: str, reference: str | None) -> int:
    """`imagenet-tc report`: loads the results files (and the reference), writes the report, prints where it is.
    Returns the exit status: 0, 1 when a file cannot be read or is not a results file, 2 with no files."""
    if not paths:
        print("imagenet-tc report: give at least one results file", file=sys.stderr)
        return 2
    try:
        loaded = [load_results(path) for path in paths]
        reference_results = load_results(reference) if reference else None
        written = write_report(loaded, out, reference_results, results_files=paths)
    except ResultsError as error:
        print(f"imagenet-tc report: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"imagenet-tc report: cannot write to {out}: {error}", file=sys.stderr)
        return 1
    print(f"report: {written[REPORT_FILE]}")
    for name, path in written.items():
        if name != REPORT_FILE:
            print(f"{'sheet:  ' if name.startswith('flipped-') else 'plot:   '}{path}")
    return 0
