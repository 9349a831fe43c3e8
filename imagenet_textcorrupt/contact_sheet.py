"""Contact sheets of a release, `imagenet-tc show`: per source image a row of thumbnails, the original first, then
its edits by domain and severity with their prompts; given a results file, only the edits that flipped the model's
prediction, each captioned with the predicted and the true class.

Rows are chosen from the metadata columns alone; only the images drawn are decoded.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.checksums import sha256_file
from imagenet_textcorrupt.errors import ImageNetTCError, UnknownNameError, closest
from imagenet_textcorrupt.schema import EDIT_DOMAINS, ORIGINAL_DOMAIN, domain_order

THUMB = 160  # px, the side of a tile's square
GAP, MARGIN, TITLE_H, LABEL_H, LINE_H, CAPTION_LINES = 8, 12, 24, 20, 14, 5
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
META = ("id", "source_id", "label", "domain", "severity", "prompt")
RIGHT, WRONG, INK, MUTED = (0, 128, 0), (200, 0, 0), (0, 0, 0), (90, 90, 90)


class ContactSheetError(ImageNetTCError):
    """The sheet cannot be drawn from these rows, settings or results."""


@dataclass(frozen=True)
class SheetSummary:
    path: Path
    sources: tuple[str, ...]  # the source images shown, top to bottom
    tiles: int  # images drawn, originals included
    flipped: int | None  # with results: edits (of the chosen domains) that flipped the prediction, in the config
    left_out: int  # edits of the shown sources not drawn (over per_source)
    size: tuple[int, int]  # (width, height) in px
    shown: dict[str, list[str]] = field(default_factory=dict)  # source id -> ids of its tiles, original first


def _row_height(thumb: int) -> int:
    return LABEL_H + thumb + 4 + CAPTION_LINES * LINE_H  # the row's label, its tiles, their captions


def sheet_size(columns: int, rows: int, thumb: int = THUMB) -> tuple[int, int]:
    """(width, height) of a sheet of `rows` source images with at most `columns` tiles each."""
    return (2 * MARGIN + columns * thumb + (columns - 1) * GAP,
            2 * MARGIN + TITLE_H + rows * _row_height(thumb) + (rows - 1) * GAP)


def parse_domains(values: Iterable[str] | None) -> list[str]:
    """Edit domains from repeated or comma-separated values; an unknown one suggests the closest (or lists all)."""
    domains: list[str] = []
    for value in values or ():
        for name in filter(None, (part.strip() for part in value.split(","))):
            if name not in EDIT_DOMAINS:
                raise UnknownNameError("domain", name, closest(name, EDIT_DOMAINS) or EDIT_DOMAINS)
            domains += [name] if name not in domains else []
    return domains


# ------------------------------------------------------------------------------------------------- choosing rows
def _is_arrow(rows: Any) -> bool:
    from datasets import Dataset

    return isinstance(rows, Dataset)  # else an IterableDataset (streaming)


def _source_ids(rows: Any, domains: list[str]) -> list[str]:
    """The source images of the rows (those with an edit in `domains`, when given), read without any image."""
    if _is_arrow(rows):  # whole columns at once
        import pyarrow as pa
        import pyarrow.compute as pc

        table = rows.with_format("arrow").select_columns(["source_id", "domain"])[:]
        sources = table["source_id"]
        if domains:
            sources = pc.filter(sources, pc.is_in(table["domain"], value_set=pa.array(domains)))
        return pc.unique(sources).to_pylist()
    found: dict[str, None] = {}
    for row in rows.select_columns(["source_id", "domain"]):
        if not domains or row["domain"] in domains:
            found[row["source_id"]] = None
    return list(found)


def _rows_of(rows: Any, sources: Iterable[str]) -> list[dict[str, Any]]:
    """Every row of these source images: its metadata and its image, not decoded. An Arrow dataset is cut to
    them by its source_id column first; a stream is read through."""
    from datasets import Image as ImageFeature

    wanted = set(sources)
    columns = rows.select_columns([*META, "image"])
    if _is_arrow(rows):
        import pyarrow as pa
        import pyarrow.compute as pc

        mask = pc.is_in(rows.with_format("arrow")["source_id"], value_set=pa.array(sorted(wanted)))
        columns = columns.select(pc.indices_nonzero(mask).to_pylist())
    columns = columns.cast_column("image", ImageFeature(decode=False))
    return [row for row in columns if row["source_id"] in wanted]


def _decode(stored: dict[str, Any]) -> Any:
    from PIL import Image

    source = io.BytesIO(stored["bytes"]) if stored.get("bytes") is not None else stored["path"]
    return Image.open(source).convert("RGB")


def _edit_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return domain_order(row["domain"]), int(row["severity"]), row["id"]


def _choose(candidates: dict[str, int], limit: int, seed: int, by_flips: bool) -> list[str]:
    """`limit` source ids, reproducibly: a seeded sample of the sorted ids, shown sorted; `by_flips` (the counts
    are flips): the most flipped first, ties in a seeded order."""
    ordered = sorted(candidates)
    rng = random.Random(seed)
    if not by_flips:
        return sorted(rng.sample(ordered, min(limit, len(ordered))))
    rng.shuffle(ordered)
    return sorted(ordered, key=lambda s: -candidates[s])[:limit]


def _layout(found: list[dict[str, Any]], chosen: list[str], domains: list[str], flipped: set[str] | None,
            per_source: int, where: str) -> list[tuple[dict[str, Any], list[dict[str, Any]], int]]:
    """Per source image: its original row, the edit rows drawn (ordered), how many edits were left out."""
    originals = {r["source_id"]: r for r in found if r["domain"] == ORIGINAL_DOMAIN}
    layout = []
    for source in chosen:
        if source not in originals:
            raise ContactSheetError(f"{where}: source image {source} has no original row: the release is corrupt")
        edits = sorted((r for r in found if r["source_id"] == source and r["domain"] != ORIGINAL_DOMAIN
                        and (not domains or r["domain"] in domains) and (flipped is None or r["id"] in flipped)),
                       key=_edit_key)
        layout.append((originals[source], edits[:per_source], max(0, len(edits) - per_source)))
    return layout


# ---------------------------------------------------------------------------------------------------- results
def _load_flips(results_file: str | Path, dataset: str, config: str, revision: str | None
                ) -> tuple[Any, dict[str, dict[str, Any]], str | None]:
    """The results (checked to be of this dataset and config), their predictions by id, and the revision to read
    (the one the results were scored on, for a Hub id, unless one is asked)."""
    from imagenet_textcorrupt.results import load_results, predictions_path, read_predictions

    path = Path(results_file)
    results = load_results(path)
    scored = results.dataset
    local = Path(dataset).is_dir()  # as evaluation records it: a folder by its absolute path
    here = str(Path(dataset).resolve()) if local else dataset
    if scored.config != config or (scored.id != here and not _same_release(dataset, config, scored)):
        raise ContactSheetError(f"--results {path}: scored on {scored.id} [{scored.config}], not {here} [{config}]")
    if not local:
        known = [r for r in (scored.sha, scored.revision) if r]
        if revision is not None and known and revision not in known:
            raise ContactSheetError(f"--revision {revision}: the results were scored on {scored.revision_label}")
        revision = revision or (known[0] if known else None)
    name = Path(str(results.predictions.get("file") or predictions_path(path).name)).name
    predictions = path.parent / name
    if not predictions.is_file():
        raise ContactSheetError(f"--results {path}: its predictions file {predictions} is missing")
    expected = results.predictions.get("sha256")
    if expected and sha256_file(predictions) != expected:
        raise ContactSheetError(f"--results {path}: {predictions.name} is not the predictions file these results "
                                f"were written with (its sha256 differs)")
    return results, {r["id"]: r for r in read_predictions(predictions)}, revision


def _same_release(dataset: str, config: str, scored: Any) -> bool:
    """A local folder moved or copied since the results were scored: the same config files (their fingerprint)."""
    if not (Path(dataset).is_dir() and scored.fingerprint):
        return False
    from imagenet_textcorrupt.evaluation import dataset_provenance

    return dataset_provenance(dataset, config, None)["fingerprint"] == scored.fingerprint


def _flips(predictions: dict[str, dict[str, Any]], domains: list[str]) -> set[str]:
    """Ids of the edits misclassified (top-1) whose source original was classified right."""
    right = {r["source_id"] for r in predictions.values() if r["domain"] == ORIGINAL_DOMAIN and
             r["top5"][0] == r["label"]}
    return {r["id"] for r in predictions.values() if r["domain"] != ORIGINAL_DOMAIN and r["source_id"] in right
            and r["top5"][0] != r["label"] and (not domains or r["domain"] in domains)}


def _check_rows(found: list[dict[str, Any]], predictions: dict[str, dict[str, Any]], sources: Iterable[str],
                where: str) -> None:
    """The predictions must be of these rows: the sources shown have the same rows, with the same labels, in the
    dataset and in the predictions."""
    wanted = set(sources)
    here = {r["id"]: r for r in found}
    scored = {i: r for i, r in predictions.items() if r["source_id"] in wanted}
    for problem, ids in (("rows of {where} are not in the predictions", sorted(set(here) - set(scored))),
                         ("predicted rows are not in {where}", sorted(set(scored) - set(here))),
                         ("rows have another label in {where}",
                          sorted(i for i in here if i in scored and int(here[i]["label"]) != int(scored[i]["label"])))):
        if ids:
            raise ContactSheetError(f"--results: {len(ids)} {problem.format(where=where)} (first: {ids[0]}): the "
                                    f"results are of another release")


# ------------------------------------------------------------------------------------------------------ drawing
def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size)  # Pillow >= 10.1
    except TypeError:
        return ImageFont.load_default()


def _fit(draw: Any, text: str, font: Any, width: int) -> str:
    """`text`, cut with "..." to fit `width`."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "..."


def _wrap(draw: Any, text: str, font: Any, width: int, lines: int) -> list[str]:
    """Greedy word wrap into at most `lines` lines, the last one cut when the text does not fit."""
    out: list[str] = []
    words = text.split()
    while words and len(out) < lines:
        line = words.pop(0)
        while words and draw.textlength(f"{line} {words[0]}", font=font) <= width:
            line += " " + words.pop(0)
        out.append(line)
    if words and out:  # what does not fit: the last line shows it is cut
        out[-1] = _fit(draw, out[-1] + " " + " ".join(words), font, width)
    return [_fit(draw, line, font, width) for line in out]


def _caption(draw: Any, font: Any, width: int, row: dict[str, Any], predicted: int | None,
             names: Sequence[str]) -> list[tuple[str, tuple[int, int, int]]]:
    """(text, colour) lines under a tile: domain and severity, the prompt wrapped into the lines the others leave,
    then with results the predicted and the true class."""
    original = row["domain"] == ORIGINAL_DOMAIN
    head = [("original" if original else f"{row['domain']}, severity {row['severity']}", INK)]
    tail = []
    if predicted is not None:
        label = int(row["label"])
        tail = [(f"pred: {names[predicted]}", RIGHT if predicted == label else WRONG), (f"true: {names[label]}", INK)]
    room = CAPTION_LINES - len(head) - len(tail)
    prompt = [] if original else [(line, MUTED) for line in _wrap(draw, row["prompt"] or "", font, width, room)]
    return [(_fit(draw, text, font, width), colour) for text, colour in head + prompt + tail]


def _draw(rows_shown: list[tuple[dict[str, Any], list[dict[str, Any]], int]], images: dict[str, Any],
          predicted: dict[str, int] | None, title: str, columns: int, thumb: int) -> Any:
    from PIL import Image, ImageDraw, ImageOps

    from imagenet_textcorrupt.classes import load_classes

    classes = load_classes()
    names = [c.name for c in classes]
    width, height = sheet_size(columns, len(rows_shown), thumb)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    small, large = _font(11), _font(14)
    draw.text((MARGIN, MARGIN), _fit(draw, title, large, width - 2 * MARGIN), fill=INK, font=large)
    y = MARGIN + TITLE_H
    for original, edits, left_out in rows_shown:
        cls = classes[int(original["label"])]
        label = f"{original['source_id']}: {cls.name} ({cls.wnid})"
        label += f"  [{left_out} more edit{'s' if left_out > 1 else ''} not shown]" if left_out else ""
        draw.text((MARGIN, y + 2), _fit(draw, label, small, width - 2 * MARGIN), fill=INK, font=small)
        for column, row in enumerate([original, *edits]):
            x, top = MARGIN + column * (thumb + GAP), y + LABEL_H
            tile = ImageOps.contain(images[row["id"]], (thumb, thumb))
            sheet.paste(tile, (x + (thumb - tile.width) // 2, top + (thumb - tile.height) // 2))
            guess = predicted.get(row["id"]) if predicted is not None else None
            if guess is not None:
                colour = RIGHT if guess == int(row["label"]) else WRONG
                draw.rectangle((x, top, x + thumb - 1, top + thumb - 1), outline=colour, width=2)
            for line, (text, colour) in enumerate(_caption(draw, small, thumb, row, guess, names)):
                draw.text((x, top + thumb + 4 + line * LINE_H), text, fill=colour, font=small)
        y += _row_height(thumb) + GAP
    return sheet


# ---------------------------------------------------------------------------------------------------------- API
def _check_settings(out: Path, limit: int, per_source: int, thumb: int) -> None:
    if out.suffix.lower() not in FORMATS:
        raise ContactSheetError(f"--out {out}: a contact sheet is an image: name it *.png or *.jpg")
    for name, value, least in (("--limit", limit, 1), ("--per-source", per_source, 1), ("thumb", thumb, 32)):
        if value < least:
            raise ContactSheetError(f"{name} must be at least {least}, got {value}")


def draw_contact_sheet(dataset: str, config: str, out: str | Path, *, revision: str | None = None, limit: int = 4,
                       domains: Iterable[str] | None = None, seed: int = 0, per_source: int = 12,
                       results: str | Path | None = None, streaming: bool = False, thumb: int = THUMB
                       ) -> SheetSummary:
    """Draws the contact sheet of `limit` source images of a config (a Hub id or a local release folder) into
    `out` (.png or .jpg) and says what it holds. With `results` (a file `imagenet-tc evaluate` wrote for this
    dataset and config), only the edits that flipped the model's prediction, from the sources with most flips."""
    from imagenet_textcorrupt.atomic import atomic_write_bytes
    from imagenet_textcorrupt.evaluation import EvaluationError, open_rows

    out = Path(out)
    _check_settings(out, limit, per_source, thumb)
    wanted = parse_domains(domains)
    scored = predictions = flipped = None
    if results is not None:
        scored, predictions, revision = _load_flips(results, dataset, config, revision)
        flipped = _flips(predictions, wanted)
        if not flipped:
            within = f" in domain {', '.join(wanted)}" if wanted else ""
            raise ContactSheetError(f"--results {results}: no edit{within} flipped {scored.model.id}'s prediction "
                                    f"(misclassified while its original was classified right)")
    try:
        rows = open_rows(dataset, config, revision, streaming)
    except EvaluationError as error:  # evaluate's wording: here the dataset is the first argument, not --dataset
        raise ContactSheetError(str(error).replace("--dataset ", "dataset ", 1)) from None
    where = f"{dataset} [{config}]"
    missing = [c for c in ("image", *META) if c not in (rows.column_names or [])]
    if missing:
        raise ContactSheetError(f"{where} has no column {', '.join(missing)}: not an ImageNet-TC release")
    if flipped is not None:
        counts = Counter(predictions[i]["source_id"] for i in flipped)
    else:
        counts = Counter(dict.fromkeys(_source_ids(rows, wanted), 0))
        if not counts:
            raise ContactSheetError(f"{where} has no edits in domain {', '.join(wanted)}" if wanted else
                                    f"{where} has no rows")
    chosen = _choose(counts, limit, seed, by_flips=flipped is not None)
    found = _rows_of(rows, chosen)
    if predictions is not None:
        _check_rows(found, predictions, chosen, where)
    layout = _layout(found, chosen, wanted, flipped, per_source, where)

    shown = {original["source_id"]: [original["id"], *(e["id"] for e in edits)] for original, edits, _ in layout}
    drawn = {i for tiles in shown.values() for i in tiles}
    images = {r["id"]: _decode(r["image"]) for r in found if r["id"] in drawn}
    title = f"{where}" + (f" @ {revision}" if revision else "")
    if scored is not None:  # first: a long title is cut at the end
        title = f"{scored.model.id}: the edits that flipped its prediction ({len(flipped)} in all), {title}"
    predicted = {i: int(r["top5"][0]) for i, r in predictions.items()} if predictions is not None else None
    columns = max(len(tiles) for tiles in shown.values())
    sheet = _draw(layout, images, predicted, title, columns, thumb)
    buffer = io.BytesIO()
    kind = FORMATS[out.suffix.lower()]
    sheet.save(buffer, format=kind, **({"quality": 90} if kind == "JPEG" else {}))
    try:
        atomic_write_bytes(out, buffer.getvalue())
    except OSError as error:
        raise ContactSheetError(f"--out {out}: cannot write it ({error.strerror or error})") from None
    return SheetSummary(path=out, sources=tuple(chosen), tiles=len(drawn), flipped=None if flipped is None else
                        len(flipped), left_out=sum(left for *_, left in layout), size=sheet.size, shown=shown)


__all__ = ["ContactSheetError", "SheetSummary", "draw_contact_sheet", "parse_domains", "sheet_size"]
