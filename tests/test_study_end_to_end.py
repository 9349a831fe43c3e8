"""Issue 32's "done when", end to end on the tiny models: plan the `study` recipe over a fake validation folder, build
one of its images (the study's prompts, all five domains), assemble the release, evaluate a `torchvision:` spec whose
weights come from a local checkpoint with `--protocol study`, and compare-study on the results.

The fake folder is tests/test_study.py's `write_val`; the checkpoint, tests/test_compare_study.py's random-weight
squeezenet1_0 (no weights download here).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from builder.planning.recipes import RECIPES_DIR
from builder.planning.sources import create_source
from test_compare_study import _random_checkpoint
from test_study import study_recipe, write_val

STUDY_RECIPE = "imagenet-tc-study"
STUDY_TABLE = Path(__file__).parents[1] / "imagenet_textcorrupt" / "data" / "study_results.csv"
COLUMNS = ("Original", "Color", "Context", "Drawing", "Weather", "Texture", "Average")

pytestmark = pytest.mark.filterwarnings("ignore:.*do not hold the validation set's 50 images")


@pytest.fixture(scope="module")
def val(tmp_path_factory) -> Path:
    return write_val(tmp_path_factory.mktemp("imagenet") / "val")


def test_plan_build_release_evaluate_compare(val, tmp_path, capsys):
    import pyarrow.parquet as pq

    from imagenet_textcorrupt.cli import main as cli
    from imagenet_textcorrupt.results import load_results, verify_results

    from builder.cli import main as builder

    # -- plan: the study's counts over the folder
    assert builder(["plan", "--recipe", "study", "--source", str(val)]) == 0
    out = capsys.readouterr().out
    assert "imagenet-tc-study 0.1.0: 1000 source images, 5100 rows (4100 edits)" in out

    # -- build: one image with all five domains, on the tiny models (one image per shard)
    images = create_source(study_recipe(10, val).source).select(study_recipe(10, val))
    index = next(k for k, im in enumerate(images) if len(im.prompts) == 5)
    image = images[index]
    raw = yaml.safe_load((RECIPES_DIR / "study.yaml").read_text())
    raw["editor"].update(model="tiny:sd", steps=2, params={**raw["editor"]["params"], "inner_steps": 2})
    raw["output"].update(resolution=32, shard_size=6)
    raw["qc"] = {"enabled": False}  # tests/test_study.py scores the rows; here the chain matters
    recipe = tmp_path / "study.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    build = tmp_path / "build"
    assert builder(["build", "--recipe", str(recipe), "--source", str(val), "--out", str(build), "--no-progress",
                    "--num-shards", "1000", "--shard-index", str(index)]) == 0
    shard = build / "shards" / f"shard-{index:05d}.parquet"
    rows = pq.read_table(shard).to_pylist()
    assert {r["source_id"] for r in rows} == {image.source_id} and len(rows) == 6
    assert {(r["domain"], r["prompt"]) for r in rows if r["severity"]} == {(p.domain, p.text) for p in image.prompts}

    # -- release: the shard is the whole build (as tests/test_study_paired.py marks it)
    entry = json.loads((build / "done" / shard.with_suffix(".json").name).read_text())
    manifest = json.loads((build / "manifest.json").read_text())
    manifest.update(shards_total=1, complete=True, shards=[entry])
    (build / "manifest.json").write_text(json.dumps(manifest))
    release = tmp_path / "release"
    assert builder(["release", "--build", str(build), "--out", str(release)]) == 0
    assert json.loads((release / "release.json").read_text())["recipe"]["name"] == STUDY_RECIPE

    # -- evaluate: a torchvision: spec, its weights from a local safetensors file, the study's protocol
    checkpoint = _random_checkpoint(tmp_path / "squeezenet1_0.safetensors")
    results_path = tmp_path / "results" / "squeezenet.json"
    capsys.readouterr()
    assert cli(["evaluate", "--model", "torchvision:squeezenet1_0:IMAGENET1K_V1", "--checkpoint", str(checkpoint),
                "--dataset", str(release), "--protocol", "study", "--device", "cpu", "--workers", "0", "--quiet",
                "--resamples", "200", "--output", str(results_path)]) == 0
    results = load_results(results_path)
    assert verify_results(results_path)[1] == "checked"
    assert results.dataset.recipe == STUDY_RECIPE and results.dataset.rows == 6
    figures = results.data["study_protocol"]
    assert figures["rows"] == {c: 1 for c in COLUMNS[:-1]}
    assert list(figures["top1"]) == list(COLUMNS)
    assert figures["average_of"] == ["Color", "Context", "Drawing", "Weather", "Texture"]

    # -- compare-study: the study's published figures for squeezenet1.0 beside ours
    compare = tmp_path / "compare"
    assert cli(["compare-study", str(results_path), "--out", str(compare)]) == 0
    with STUDY_TABLE.open(newline="") as handle:
        published = next(r for r in csv.DictReader(handle) if r["Model"] == "squeezenet1.0")
    markdown = (compare / "compare_study.md").read_text()
    assert "## squeezenet1.0: torchvision:squeezenet1_0:IMAGENET1K_V1" in markdown
    assert "weights from --checkpoint squeezenet1_0.safetensors" in markdown
    for column in COLUMNS:
        ours = 100 * figures["top1"][column]["value"]
        assert f"| {column} | {float(published[column]):.1f} | {round(ours, 1) or 0.0:.1f} [" in markdown, column
    with (compare / "compare_study.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [(r["study_model"], r["column"]) for r in table] == [("squeezenet1.0", c) for c in COLUMNS]
    for row in table:
        assert float(row["study"]) == float(published[row["column"]])
        assert float(row["ours"]) == pytest.approx(100 * figures["top1"][row["column"]]["value"], abs=0.05)
    plot = compare / "study_vs_ours.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
