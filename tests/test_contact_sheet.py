"""`imagenet-tc show`: contact sheets of a release folder, and of the edits that flipped a model's predictions."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

from imagenet_textcorrupt.cli import main
from imagenet_textcorrupt.contact_sheet import ContactSheetError, draw_contact_sheet, parse_domains, sheet_size
from imagenet_textcorrupt.errors import UnknownNameError
from imagenet_textcorrupt.results import (FORMAT_VERSION, RESULTS_FORMAT, metrics_from_predictions,
                                          predictions_path, write_predictions, write_results)


SOURCES = ["sample-camera", "sample-chelsea", "sample-coffee", "sample-motorcycle", "sample-rocket"]
EDITS = ["drawing-p003-s1", "weather-p001-s1", "weather-p002-s2", "color-p000-s1"]  # the order a row shows them
# edits misclassified by the hand-made model below: its originals are right but for the camera's, so the camera's
# wrong edits are not flips
WRONG = {"sample-chelsea-drawing-p003-s1", "sample-chelsea-weather-p002-s2", "sample-coffee-color-p000-s1",
         "sample-rocket-weather-p001-s1", "sample-camera", "sample-camera-color-p000-s1"}
FLIPS = {"sample-chelsea": 2, "sample-coffee": 1, "sample-rocket": 1}


@pytest.fixture(scope="session")
def release(photo_release) -> Path:
    return photo_release


@pytest.fixture(scope="session")
def release_rows(release) -> list[dict]:
    from imagenet_textcorrupt.evaluation import open_rows

    columns = ["id", "source_id", "label", "domain", "severity", "group", "template"]
    return open_rows(str(release), "all", None, streaming=False).select_columns(columns).to_list()


def write_results_for(folder: Path, rows: list[dict], dataset: str, config: str = "all", wrong=WRONG,
                      fingerprint: str = "sha256:" + "0" * 64) -> Path:
    """A results file and its predictions as `imagenet-tc evaluate` writes them, for a model that gets every row
    right except those in `wrong` (whose top-1 is the next class)."""
    records = []
    for row in rows:
        top1 = (row["label"] + 1) % 1000 if row["id"] in wrong else row["label"]
        top5 = [(top1 + k) % 1000 for k in range(5)]
        records.append({**row, "top5": top5, "top5_probs": [0.6, 0.1, 0.1, 0.1, 0.1], "top5_config": top5})
    path = folder / "results.json"
    digest = write_predictions(predictions_path(path), records)
    write_results(path, {
        "format": RESULTS_FORMAT, "format_version": FORMAT_VERSION, "created": "2026-11-01T00:00:00Z",
        "dataset": {"id": dataset, "config": config, "split": "test", "revision": None, "sha": None,
                    "version": "0.0.1", "fingerprint": fingerprint, "rows": len(records)},
        "model": {"id": "timm:hand_made", "pretrained": True, "family": "cnn"},
        "preprocessing": {}, "versions": {},
        "predictions": {"file": predictions_path(path).name, "sha256": digest, "rows": len(records)},
        "metrics": metrics_from_predictions(records, resamples=0)})
    return path


@pytest.fixture(scope="session")
def results(tmp_path_factory, release, release_rows) -> Path:
    return write_results_for(tmp_path_factory.mktemp("results"), release_rows, str(release.resolve()))


def test_sheet_layout_ids_and_size(release, tmp_path):
    sheet = draw_contact_sheet(str(release), "all", tmp_path / "new" / "sheet.png", limit=2, seed=0)
    chosen = sorted(random.Random(0).sample(SOURCES, 2))  # a seeded sample of the sorted source ids, shown sorted
    assert sheet.sources == tuple(chosen)
    assert sheet.shown == {s: [s] + [f"{s}-{e}" for e in EDITS] for s in chosen}  # original, then domain order
    assert (sheet.tiles, sheet.left_out, sheet.flipped) == (10, 0, None)
    assert sheet.size == sheet_size(5, 2) == (2 * 12 + 5 * 160 + 4 * 8, 2 * 12 + 24 + 2 * (20 + 160 + 4 + 5 * 14) + 8)
    with Image.open(sheet.path) as image:
        assert (image.format, image.size) == ("PNG", sheet.size)
    assert [p.name for p in sheet.path.parent.iterdir()] == ["sheet.png"]  # no temporary file left


def test_seed_chooses_reproducibly(release, tmp_path):
    def sources(seed: int) -> tuple[str, ...]:
        return draw_contact_sheet(str(release), "all", tmp_path / f"{seed}.png", limit=2, seed=seed).sources

    assert sources(0) == sources(0) == tuple(sorted(random.Random(0).sample(SOURCES, 2)))
    assert sources(2) == tuple(sorted(random.Random(2).sample(SOURCES, 2))) != sources(0)
    assert draw_contact_sheet(str(release), "all", tmp_path / "all.png", limit=9).sources == tuple(SOURCES)


def test_domains_per_source_and_jpeg(release, tmp_path):
    sheet = draw_contact_sheet(str(release), "all", tmp_path / "sheet.jpg", limit=1, domains=["color,weather"],
                               per_source=2)
    source = sheet.sources[0]
    # weather's two severities fit; color, after them, is left out
    assert sheet.shown == {source: [source, f"{source}-weather-p001-s1", f"{source}-weather-p002-s2"]}
    assert (sheet.tiles, sheet.left_out) == (3, 1)
    with Image.open(sheet.path) as image:
        assert (image.format, image.size) == ("JPEG", sheet_size(3, 1))
    assert parse_domains(["drawing", "gaussian_noise,drawing", " fog "]) == ["drawing", "gaussian_noise", "fog"]


def test_streaming_shows_the_same(release, tmp_path):
    arrow = draw_contact_sheet(str(release), "all", tmp_path / "a.png", limit=3, seed=1)
    streamed = draw_contact_sheet(str(release), "all", tmp_path / "s.png", limit=3, seed=1, streaming=True)
    assert streamed.shown == arrow.shown
    assert Path(tmp_path / "a.png").read_bytes() == Path(tmp_path / "s.png").read_bytes()


def test_a_domain_without_edits_and_other_errors(release, tmp_path):
    with pytest.raises(UnknownNameError, match=r"unknown domain 'wether'; did you mean weather\?"):
        draw_contact_sheet(str(release), "all", tmp_path / "x.png", domains=["wether"])
    with pytest.raises(UnknownNameError, match=r"unknown domain 'original'; did you mean drawing, weather, .*"
                                               r"jpeg_compression\?"):
        parse_domains(["original"])
    with pytest.raises(ContactSheetError, match=r"has no edits in domain texture"):
        draw_contact_sheet(str(release), "all", tmp_path / "x.png", domains=["texture"])
    with pytest.raises(ContactSheetError, match=r"--out .*sheet\.gif: a contact sheet is an image: name it \*\.png"):
        draw_contact_sheet(str(release), "all", tmp_path / "sheet.gif")
    with pytest.raises(ContactSheetError, match=r"--limit must be at least 1, got 0"):
        draw_contact_sheet(str(release), "all", tmp_path / "x.png", limit=0)
    assert not list(tmp_path.iterdir())


def test_flipped_edits_from_results(release, results, tmp_path):
    sheet = draw_contact_sheet(str(release), "all", tmp_path / "flips.png", limit=2, seed=0, results=results)
    assert sheet.flipped == 4  # the camera's wrong edit is no flip: its original is wrong too
    assert sheet.sources[0] == "sample-chelsea"  # most flips first, then the seed breaks the tie
    assert sheet.sources[1] in ("sample-coffee", "sample-rocket")
    assert sheet.shown["sample-chelsea"] == ["sample-chelsea", "sample-chelsea-drawing-p003-s1",
                                             "sample-chelsea-weather-p002-s2"]
    ties = {draw_contact_sheet(str(release), "all", tmp_path / f"{seed}.png", limit=2, seed=seed,
                               results=results).sources[1] for seed in range(6)}
    assert ties == {"sample-coffee", "sample-rocket"}
    with Image.open(sheet.path) as image:
        assert image.size == sheet_size(3, 2)
    weather = draw_contact_sheet(str(release), "all", tmp_path / "w.png", limit=5, domains=["weather"],
                                 results=results)
    assert weather.flipped == 2 and set(weather.sources) == {"sample-chelsea", "sample-rocket"}
    assert weather.shown["sample-rocket"] == ["sample-rocket", "sample-rocket-weather-p001-s1"]


def test_results_that_do_not_fit_are_refused(release, release_rows, results, tmp_path):
    def draw(results_file: Path, config: str = "all", dataset: str = str(release)) -> None:
        draw_contact_sheet(dataset, config, tmp_path / "x.png", results=results_file)

    with pytest.raises(ContactSheetError, match=r"scored on .*release \[all\], not .*release \[animals\]"):
        draw(results, config="animals")
    other = write_results_for(tmp_path / "other", release_rows, "org/imagenet-tc")
    with pytest.raises(ContactSheetError, match=r"scored on org/imagenet-tc \[all\], not .*release \[all\]"):
        draw(other)
    nothing = write_results_for(tmp_path / "none", release_rows, str(release.resolve()), wrong={"sample-camera"})
    with pytest.raises(ContactSheetError, match=r"no edit flipped timm:hand_made's prediction"):
        draw(nothing)
    renamed = [{**r, "id": r["id"].replace("drawing-p003", "drawing-p009")} for r in release_rows]
    foreign = write_results_for(tmp_path / "foreign", renamed, str(release.resolve()))
    with pytest.raises(ContactSheetError, match=r"--results: 3 rows of .* are not in the predictions \(first: "
                                                r"sample-chelsea-drawing-p003-s1\): the results are of another"):
        draw(foreign)
    relabelled = write_results_for(tmp_path / "relabelled", [{**r, "label": 7} for r in release_rows],
                                   str(release.resolve()))
    with pytest.raises(ContactSheetError, match=r"15 rows have another label in .*release \[all\] \(first: "
                                                r"sample-chelsea\)"):
        draw(relabelled)
    with predictions_path(relabelled).open("a") as handle:  # predictions edited after the results were written
        handle.write("\n")
    with pytest.raises(ContactSheetError, match=r"results.predictions.jsonl is not the predictions file these "
                                                r"results were written with \(its sha256 differs\)"):
        draw(relabelled)
    predictions_path(relabelled).unlink()
    with pytest.raises(ContactSheetError, match=r"its predictions file .*results.predictions.jsonl is missing"):
        draw(relabelled)


def test_a_moved_release_is_recognised_by_its_files(release, release_rows, tmp_path):
    import shutil

    from imagenet_textcorrupt.evaluation import dataset_provenance

    fingerprint = dataset_provenance(str(release), "all", None)["fingerprint"]
    scored = write_results_for(tmp_path / "scored", release_rows, str(release.resolve()), fingerprint=fingerprint)
    moved = shutil.copytree(release, tmp_path / "moved")
    sheet = draw_contact_sheet(str(moved), "all", tmp_path / "x.png", results=scored)
    assert sheet.flipped == 4
    (moved / "data" / "animals" / "test-00000-of-00001.parquet").write_bytes(b"")  # another release now
    with pytest.raises(ContactSheetError, match=r"scored on .*release \[all\], not .*moved \[all\]"):
        draw_contact_sheet(str(moved), "all", tmp_path / "x.png", results=scored)


def test_cli_writes_the_sheet(release, results, tmp_path, capsys):
    out = tmp_path / "sheets" / "sheet.png"
    assert main(["show", str(release), "--out", str(out), "--limit", "2", "--domain", "weather",
                 "--per-source", "1"]) == 0
    printed = capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size == sheet_size(2, 2)
    assert printed.startswith(f"contact sheet: {out} ({sheet_size(2, 2)[0]} x {sheet_size(2, 2)[1]} px)\n")
    assert "  tiles: 4 (originals 2, edits 2); 2 more left out (--per-source 1)\n" in printed

    assert main(["show", str(release), "--out", str(tmp_path / "flips.png"), "--results", str(results)]) == 0
    printed = capsys.readouterr().out
    assert "  source images (3): sample-chelsea, " in printed
    assert "  edits that flipped the model's prediction in config all: 4;" in printed

    assert main(["show", str(release), "--out", str(tmp_path / "x.png"), "--domain", "wether"]) == 2
    assert "imagenet-tc show: error: unknown domain 'wether'; did you mean weather?" in capsys.readouterr().err
    assert main(["show", str(release), "--out", str(tmp_path / "x.txt")]) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert main(["show", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.png")]) == 1
    assert f"imagenet-tc show: error: dataset '{tmp_path / 'nowhere'}': not a folder here, and loading it from the " \
           f"Hub failed" in capsys.readouterr().err

