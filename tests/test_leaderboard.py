"""`imagenet-tc leaderboard`: aggregation over many results files, revisions and metrics versions kept apart,
invalid files refused with their reasons, and a results dataset repository on the loopback Hub as the source."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import subprocess
import sys

import pytest
from PIL import Image

from hub_server import client_environment
from imagenet_textcorrupt.cli import main
from imagenet_textcorrupt.leaderboard import build
from imagenet_textcorrupt.metrics import METRICS_VERSION
from imagenet_textcorrupt.results import metrics_from_predictions, read_predictions
from results_factory import SHA_A, SHA_B, write_results_file

MODELS = [  # model, family, clean, edited, seed
    ("timm:resnet50", "cnn", 0.80, 0.55, 0),
    ("timm:vit_base_patch16_224", "transformer", 0.85, 0.50, 1),
    ("timm:convnext_base", "cnn", 0.85, 0.70, 2),
]


@pytest.fixture()
def results_folder(tmp_path):
    folder = tmp_path / "results"
    for model, family, clean, edited, seed in MODELS:
        write_results_file(folder, model, family, clean, edited, seed=seed)
        write_results_file(folder, model, family, clean, edited, seed=seed + 10, config="animals")
    return folder


def _edited(path) -> float:
    return json.loads(path.read_text())["metrics"]["edited"]["top1"]["value"]


@pytest.mark.parametrize("source", ["folder", "not-an-id"])
def test_publish_needs_the_results_repository(results_folder, tmp_path, capsys, source):
    source = str(results_folder) if source == "folder" else source
    assert main(["leaderboard", source, "--out", str(tmp_path / "board"), "--publish"]) == 1
    assert (f"imagenet-tc leaderboard: error: --publish uploads to the results repository, but {source} is not a "
            "Hub dataset id (a folder here, or not ORG/NAME): give the results dataset's id") in capsys.readouterr().err
    assert not (tmp_path / "board").exists()  # refused before anything is read or written


def test_ranked_tables_per_config_and_overall(results_folder, tmp_path, capsys):
    out = tmp_path / "board"
    assert main(["leaderboard", str(results_folder), "--out", str(out)]) == 0
    assert "6 results ranked in 1 section(s); 0 refused, 0 superseded" in capsys.readouterr().out
    board = json.loads((out / "leaderboard.json").read_text())
    [section] = board["sections"]
    assert section["dataset"] == "org/imagenet-tc" and section["revision"] == SHA_A
    assert list(section["configs"]) == ["all", "animals"]
    overall = section["overall"]
    values = [row["edited_top1"]["value"] for row in overall]
    assert values == sorted(values, reverse=True) and len(values) == 3
    expected = sorted(((_edited(p), json.loads(p.read_text())["model"]["id"]) for p in results_folder.glob("*all*.json")),
                      reverse=True)
    assert [row["model"] for row in overall] == [model for _, model in expected]
    assert [row["rank"] for row in overall] == [1, 2, 3] and all(row["verified"] for row in overall)

    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert len(rows) == 6 and {r["config"] for r in rows} == {"all", "animals"}
    first = next(r for r in rows if r["config"] == "all" and r["rank"] == "1")
    assert float(first["edited_top1"]) == pytest.approx(values[0])
    markdown = (out / "leaderboard.md").read_text()
    assert "### Overall (config all)" in markdown and "### Config animals" in markdown
    assert f"| 1 | {overall[0]['model']} |" in markdown
    for name in ("report.md", "accuracy_by_domain-1-all.png", "clean_vs_edited-1-all.png"):
        assert (out / name).stat().st_size > 1000
    with Image.open(out / "clean_vs_edited-1-all.png") as image:
        assert image.format == "PNG" and image.size[0] > 300


def test_ties_share_a_rank(tmp_path):
    folder = tmp_path / "results"
    write_results_file(folder, "timm:a", seed=5)
    write_results_file(folder, "timm:b", seed=5)
    [section] = build(str(folder)).sections
    assert [row["rank"] for row in section["overall"]] == [1, 1]


def test_revisions_and_metrics_versions_are_never_mixed(results_folder, tmp_path):
    write_results_file(results_folder, "timm:deit_small_patch16_224", "transformer", sha=SHA_B, seed=7)
    older = write_results_file(results_folder, "timm:regnety_040", "cnn", seed=8)
    data = json.loads(older.read_text())
    data["metrics"]["metrics_version"] = "0.9.0"
    older.write_text(json.dumps(data))
    board = build(str(results_folder))
    keys = [(s["revision"], s["metrics_version"]) for s in board.sections]
    assert keys == [(SHA_A, METRICS_VERSION), (SHA_B, METRICS_VERSION), (SHA_A, "0.9.0")]
    apart = board.sections[2]["overall"]
    assert [r["model"] for r in apart] == ["timm:regnety_040"] and apart[0]["verified"] is False

    only = build(str(results_folder), revision=SHA_B)
    assert [s["revision"] for s in only.sections] == [SHA_B]
    refused = {r["file"]: r["problems"][0] for r in only.refused}
    assert len(refused) == 7
    assert all(p == f"computed on dataset revision {SHA_A}; this leaderboard is for {SHA_B}" for p in refused.values())


def test_invalid_files_are_refused_with_reasons(results_folder, tmp_path, capsys):
    def tamper(name, change):
        path = write_results_file(results_folder, f"timm:{name}", seed=20)
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    tamper("nan_model", lambda d: d["metrics"]["clean"]["top1"].update(value=math.nan))
    tamper("no_dataset", lambda d: d.pop("dataset"))
    tamper("inflated", lambda d: d["metrics"]["edited"]["drop"].update(value=0.0))
    tamper("typed", lambda d: d["metrics"]["bootstrap"].update(resamples="100"))
    tamper("limited", lambda d: d["run"].update(limit=1))
    write_results_file(results_folder, "timm:random_weights", pretrained=False, seed=21)
    partial = write_results_file(results_folder, "timm:partial", seed=22)
    predictions = partial.with_name(partial.stem + ".predictions.jsonl")
    kept = predictions.read_text().splitlines()[:50]  # 10 of the 20 source images, consistently re-scored
    predictions.write_text("\n".join(kept) + "\n")
    data = json.loads(partial.read_text())
    data["dataset"]["rows"] = data["predictions"]["rows"] = 50
    data["predictions"]["sha256"] = hashlib.sha256(predictions.read_bytes()).hexdigest()
    data["metrics"] = metrics_from_predictions(read_predictions(predictions), resamples=100)
    partial.write_text(json.dumps(data))
    binary = write_results_file(results_folder, "timm:binary", seed=23)
    binary.with_name(binary.stem + ".predictions.jsonl").write_bytes(b"\xff\xfe not text")
    (results_folder / "notes.json").write_text('{"hello": 1}')
    (results_folder / "broken.json").write_text("{")
    write_results_file(results_folder, "timm:resnet50", "cnn", 0.8, 0.6, seed=30, created="2026-11-05T00:00:00Z")

    out = tmp_path / "board"
    assert main(["leaderboard", str(results_folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "6 results ranked in 1 section(s); 10 refused, 1 superseded" in printed
    board = json.loads((out / "leaderboard.json").read_text())
    reasons = {r["file"]: " ".join(r["problems"]) for r in board["refused"]}
    assert "metrics.clean.top1.value is not a finite number" in reasons["timm_nan_model-all-2026-11-01T00_00_00Z.json"]
    assert "missing dataset.id" in reasons["timm_no_dataset-all-2026-11-01T00_00_00Z.json"]
    assert "edited.drop.value: claimed 0, recomputed" in reasons["timm_inflated-all-2026-11-01T00_00_00Z.json"]
    assert "not an ImageNet-TC results file" in reasons["notes.json"]
    assert "metrics.bootstrap.resamples is '100', expected an integer >= 0" in \
        reasons["timm_typed-all-2026-11-01T00_00_00Z.json"]
    assert reasons["timm_limited-all-2026-11-01T00_00_00Z.json"] == \
        "it covers only the first 1 source images (--limit)"
    assert reasons["timm_random_weights-all-2026-11-01T00_00_00Z.json"] == \
        "the model has random weights (--no-pretrained)"
    assert reasons["timm_partial-all-2026-11-01T00_00_00Z.json"] == \
        "it covers 50 rows of config all; the other results on this revision cover 100"
    assert "not UTF-8 text" in reasons["timm_binary-all-2026-11-01T00_00_00Z.json"]
    assert "not an ImageNet-TC results file" in reasons["broken.json"]
    assert board["superseded"] == [{"file": "timm_resnet50-all-2026-11-01T00_00_00Z.json",
                                    "by": "timm_resnet50-all-2026-11-05T00_00_00Z.json"}]
    markdown = (out / "leaderboard.md").read_text()
    assert "## Refused" in markdown and "timm:inflated" not in markdown.split("## Refused")[0]


def test_results_repository_as_the_source(hub, tmp_path_factory):
    folder = tmp_path_factory.mktemp("submitted")
    for model, family, clean, edited, seed in MODELS:
        path = write_results_file(folder / model.replace(":", "_"), model, family, clean, edited, seed=seed)
        path.rename(path.parent / "20261101T000000Z.json")
        (path.parent / (path.stem + ".predictions.jsonl")).rename(path.parent / "20261101T000000Z.predictions.jsonl")
        data = json.loads((path.parent / "20261101T000000Z.json").read_text())
        data["predictions"]["file"] = "20261101T000000Z.predictions.jsonl"
        (path.parent / "20261101T000000Z.json").write_text(json.dumps(data))
    env = client_environment(hub.endpoint, str(tmp_path_factory.mktemp("client_home")))
    setup = (f"from huggingface_hub import HfApi\napi = HfApi()\napi.create_repo('org/results', repo_type='dataset')\n"
             f"api.upload_folder(folder_path={str(folder)!r}, path_in_repo='results/all', repo_id='org/results', "
             f"repo_type='dataset')\n")
    done = subprocess.run([sys.executable, "-c", setup], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path_factory.mktemp("board")
    done = subprocess.run([sys.executable, "-m", "imagenet_textcorrupt.cli", "leaderboard", "org/results", "--out",
                           str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "3 results ranked in 1 section(s); 0 refused" in done.stdout
    board = json.loads((out / "leaderboard.json").read_text())
    overall = board["sections"][0]["overall"]
    assert [r["model"] for r in overall][0] == "timm:convnext_base"
    assert all(r["verified"] for r in overall)
    assert {r["file"].split("/")[2] for r in overall} == {"timm_resnet50", "timm_vit_base_patch16_224",
                                                         "timm_convnext_base"}


def test_zero_shot_models_rank_beside_classifiers(tmp_path, capsys):
    folder = tmp_path / "results"
    write_results_file(folder, "timm:resnet50", "cnn", 0.80, 0.55, seed=0)
    write_results_file(folder, "clip:openai/clip-vit-base-patch32", "zero-shot", 0.63, 0.58, seed=1)
    assert main(["leaderboard", str(folder), "--out", str(tmp_path / "board")]) == 0
    overall = json.loads((tmp_path / "board" / "leaderboard.json").read_text())["sections"][0]["overall"]
    assert [(r["model"], r["family"]) for r in overall] == [("clip:openai/clip-vit-base-patch32", "zero-shot"),
                                                           ("timm:resnet50", "cnn")]
    markdown = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "| 1 | clip:openai/clip-vit-base-patch32 | zero-shot |" in markdown
    rows = list(csv.DictReader(io.StringIO((tmp_path / "board" / "leaderboard.csv").read_text())))
    assert {r["family"] for r in rows} == {"zero-shot", "cnn"}
