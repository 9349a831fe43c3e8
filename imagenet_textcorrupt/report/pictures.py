"""Pictures in a report: per model, a contact sheet (contact_sheet.py) of the edits that flipped its prediction in
the domains where its accuracy dropped most, drawn from the local release folder its results were scored on. A
report never downloads a release: for results scored on the Hub it gives the `imagenet-tc show` command that draws
the same sheet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.report.sections import Section
from imagenet_textcorrupt.results import Results
from imagenet_textcorrupt.schema import domain_order, path_component

SHEET_DOMAINS = 3  # the domains of the largest drops a sheet shows
SHEET_SOURCES = 4
SHEET_EDITS_PER_SOURCE = 8


@dataclass(frozen=True)
class Picture:
    """One model's sheet: the file written (None when it could not be drawn) and what to say about it."""

    label: str
    file: str | None
    note: str


def largest_drops(results: Results, count: int = SHEET_DOMAINS) -> list[str]:
    """The domains (text-guided and ImageNet-C alike) with the largest positive drop, largest first."""
    drops = [(figures["drop"].value, domain) for domain, figures in results.metrics.by_domain.items()
             if figures.get("drop") is not None and figures["drop"].value is not None and figures["drop"].value > 0]
    return [domain for _, domain in sorted(drops, key=lambda d: (-d[0], domain_order(d[1])))[:count]]


def draw_pictures(section: Section, files: Mapping[int, Path], folder: Path) -> list[Picture]:
    """A sheet per column whose results file is known (`files`: id(results) -> path); a column that cannot have
    one gets a note saying why, and the report goes on."""
    from imagenet_textcorrupt.contact_sheet import draw_contact_sheet

    pictures: list[Picture] = []
    names: set[str] = set()
    for column in section.columns:
        path = files.get(id(column.results))
        if path is None:
            continue
        domains = largest_drops(column.results)
        if not domains:
            pictures.append(Picture(column.label, None, "no domain lowered its accuracy"))
            continue
        dataset = column.results.dataset
        if not Path(dataset.id).is_dir():
            show = f"--config {dataset.config} --results {path} --domain {','.join(domains)} --out flipped.png"
            if dataset.fingerprint:  # scored on a local folder (evaluate records its fingerprint) not here now
                note = (f"its release folder {dataset.id} is not here; `imagenet-tc show FOLDER {show}` draws its "
                        f"sheet from a copy of that release")
            else:
                revision = f" --revision {dataset.sha or dataset.revision}" if dataset.sha or dataset.revision else ""
                note = (f"scored on the Hub, which a report does not download from; `imagenet-tc show {dataset.id}"
                        f"{revision} {show}` draws its sheet")
            pictures.append(Picture(column.label, None, note))
            continue
        stem, copy = f"flipped-{path_component(column.label)}", 1
        name = f"{stem}{section.suffix}.png"
        while name in names:  # two labels that make one file name
            copy += 1
            name = f"{stem}-{copy}{section.suffix}.png"
        names.add(name)
        try:
            sheet = draw_contact_sheet(dataset.id, dataset.config, folder / name, limit=SHEET_SOURCES,
                                       domains=domains, per_source=SHEET_EDITS_PER_SOURCE, results=path)
        except (ImageNetTCError, OSError, ImportError) as error:
            pictures.append(Picture(column.label, None, f"not drawn: {error}"))
            continue
        pictures.append(Picture(column.label, name, f"{sheet.flipped} edits flipped its prediction in "
                                                    f"{', '.join(domains)}; {len(sheet.sources)} source images shown"))
    return pictures


def pictures_markdown(pictures: list[Picture]) -> str:
    lines = []
    for picture in pictures:
        lines.append(f"- **{picture.label}**: {picture.note}" + (f" ([{picture.file}]({picture.file}))"
                                                                  if picture.file else ""))
    return "\n".join(lines)
