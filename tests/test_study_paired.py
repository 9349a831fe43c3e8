"""The `study-paired` recipe: the study's selection (the same files as `study`) with our hierarchy's prompts,
v1's domains, severities and editor, the study's storage; each row, recipe.json and release.json name the recipe.

Over the same fake validation folder as tests/test_study.py (`write_val`).
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from PIL import Image

from imagenet_textcorrupt.errors import DataFileError
from imagenet_textcorrupt.prompts import load_prompts

from builder.planning.plan import make_shards
from builder.planning.recipes import RECIPES_DIR, load_recipe, parse_recipe
from builder.planning.sources import create_source
from builder.study.lists import load_lists
from builder.study.replay import chosen_classes
from test_study import study_recipe, write_val

NAME = "imagenet-tc-study-paired"
HUSKY = "n02110185"  # Siberian husky: one of the classes seed 10 chooses (an animal: all five domains)

pytestmark = pytest.mark.filterwarnings("ignore:.*do not hold the validation set's 50 images")


@pytest.fixture(scope="module")
def val(tmp_path_factory) -> Path:
    return write_val(tmp_path_factory.mktemp("imagenet") / "val")


def paired_recipe(path: Path | str = "/nowhere"):
    recipe = load_recipe("study-paired")
    return replace(recipe, source=replace(recipe.source, path=str(path)))


@pytest.fixture(scope="module")
def selected(val) -> dict[str, list]:
    """The images each recipe selects from the folder."""
    return {name: create_source(recipe.source).select(recipe)
            for name, recipe in (("study", study_recipe(10, val)), ("paired", paired_recipe(val)))}


def test_the_same_images_as_the_study(selected):
    study, paired = selected["study"], selected["paired"]
    assert len(paired) == 1000
    assert [(im.source_id, im.wnid, im.locator) for im in paired] == \
        [(im.source_id, im.wnid, im.locator) for im in study]
    assert all(im.prompts for im in study)
    assert all(im.source_prompt is None and im.prompts == () for im in paired)  # the hierarchy gives them


def test_the_prompts_are_the_hierarchys(selected):
    recipe = paired_recipe()
    hierarchy = load_prompts().for_class(HUSKY)
    assert HUSKY in chosen_classes(10, load_lists(), 100) and hierarchy.source_prompt == "a Siberian husky"
    huskies = [im for im in selected["paired"] if im.wnid == HUSKY]
    items = [i for shard in make_shards(recipe, huskies) for i in shard.items]
    assert len(huskies) == 10 and len(items) == 10 * 31
    assert {i.source_prompt for i in items} == {"a Siberian husky"}  # not the study's "A Siberian husky"
    theirs = [im for im in selected["study"] if im.wnid == HUSKY]
    study = {(i.source_id, i.domain): i.prompt for shard in make_shards(study_recipe(10), theirs)
             for i in shard.items if i.severity}
    for image in huskies:
        mine = [i for i in items if i.source_id == image.source_id and i.severity]
        for domain in recipe.prompts.domains:
            texts = {p.text: p.template for p in hierarchy.domains[domain]}
            chosen = [i for i in mine if i.domain == domain]
            assert len({i.prompt for i in chosen}) == 2 and len(chosen) == 6  # 2 templates x 3 severities
            assert all(texts[i.prompt] == i.template for i in chosen)
            assert sorted(i.severity for i in chosen) == [1, 1, 2, 2, 3, 3]
            assert study.get((image.source_id, domain)) not in texts  # the study's prompt (if it drew one)
    weather = {i.prompt for i in items if i.domain == "weather"}
    assert weather <= {"a Siberian husky in the snow", "a Siberian husky in the fog", "a Siberian husky in the rain",
                       "a Siberian husky on ice"}


def test_v1s_prompts_severities_and_editor_the_studys_selection_and_storage():
    paired, v1, study = load_recipe("study-paired"), load_recipe("v1"), load_recipe("study")
    assert paired.name == NAME and paired.source.prompts == "hierarchy" and study.source.prompts == "study"
    assert (paired.prompts, paired.severities, paired.editor, paired.qc) == (v1.prompts, v1.severities, v1.editor,
                                                                              v1.qc)
    assert paired.severities == (1, 2, 3) and paired.prompts.templates_per_domain == 2
    assert paired.prompts.domains == ("drawing", "weather", "color", "texture", "context")
    assert (paired.seed, paired.selection, replace(paired.source, prompts="study")) == \
        (study.seed, study.selection, study.source)
    assert paired.output == replace(study.output) == replace(v1.output, jpeg_quality=85, jpeg_subsampling="4:2:0",
                                                             originals="source")
    assert paired.to_dict()["source"]["prompts"] == "hierarchy"
    assert "prompts" not in load_recipe("v1").to_dict()["source"]  # other sources record what they did before


def test_plan(capsys, val):
    from builder.cli import main

    assert main(["plan", "--recipe", "study-paired", "--throughput", "100"]) == 0
    out, err = capsys.readouterr()
    assert "source cannot be listed here" in err
    assert f"{NAME} 0.1.0: 1000 source images, 30400 rows (29400 edits), 62 shards" in out
    assert "UNet work (p2p-nulltext, 50 steps, batch 32): 3,042,000 rows in 700,000 calls" in out
    assert "500,000 rows also backward" in out and "GPU-hours at 100 UNet rows/s: 11.23" in out
    assert main(["plan", "--recipe", "study-paired", "--source", str(val), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["images"], summary["rows"], summary["edits"], summary["shards"]) == (1000, 30400, 29400, 62)
    # the landscapes (60 images of the study's selection) have no colour domain
    assert summary["by_domain"] == {"original": 1000, "drawing": 6000, "weather": 6000, "color": 5400,
                                    "texture": 6000, "context": 6000}
    assert summary["by_severity"] == {"0": 1000, "1": 9800, "2": 9800, "3": 9800}
    assert summary["unet_evaluations"] == 3_042_000 and summary["unet_backward_rows"] == 500_000


def test_build_and_release_name_the_recipe(val, selected, tmp_path):
    """A husky built end to end on the tiny models (one shard of 1000; two of the domains, to keep it short): the
    hierarchy's prompts, two per domain, at three severities, the study's storage, the recipe named in every row
    and in recipe.json; the shard assembled as a release (its manifest saying it is the whole build) names it in
    release.json, where results read it from."""
    import pyarrow.parquet as pq

    from imagenet_textcorrupt.evaluation import release_recipe

    from builder.cli import main
    from builder.release.assemble import assemble

    raw = yaml.safe_load((RECIPES_DIR / "study-paired.yaml").read_text())
    raw["editor"].update(model="tiny:sd", dtype="float32", steps=2, params={**raw["editor"]["params"],
                                                                            "inner_steps": 2})
    raw["prompts"]["domains"] = ["weather", "color"]  # 2 templates x 3 severities each: 12 edits, 13 rows
    raw["output"].update(resolution=32, shard_size=13)  # one image per shard
    raw["qc"] = {"enabled": False}  # the study recipe's test scores its rows; here what the rows are matters
    recipe = tmp_path / "study-paired.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    index = next(k for k, im in enumerate(selected["paired"]) if im.wnid == HUSKY)
    image = selected["paired"][index]
    out = tmp_path / "build"
    assert main(["build", "--recipe", str(recipe), "--source", str(val), "--out", str(out), "--no-progress",
                 "--num-shards", "1000", "--shard-index", str(index)]) == 0
    shard = out / "shards" / f"shard-{index:05d}.parquet"
    rows = pq.read_table(shard).to_pylist()
    assert {r["source_id"] for r in rows} == {image.source_id} and len(rows) == 13
    hierarchy = load_prompts().for_class(HUSKY)
    allowed = {(d, p.text) for d, prompts in hierarchy.domains.items() for p in prompts}
    edits = [(r["domain"], r["prompt"], r["severity"]) for r in rows if r["severity"]]
    assert {(d, p) for d, p, _ in edits} <= allowed and len({(d, p) for d, p, _ in edits}) == 4
    assert sorted({r["severity"] for r in rows}) == [0, 1, 2, 3] and {r["source_prompt"] for r in rows} == \
        {"a Siberian husky"}
    for row in rows:
        study = json.loads(row["edit_parameters"])["study"]
        assert (study["recipe"], study["recipe_version"], study["prompts"], study["seed"]) == (NAME, "0.1.0",
                                                                                               "hierarchy", 10)
        assert study["stored"] == {"format": "jpeg", "jpeg_quality": 85, "jpeg_subsampling": "4:2:0",
                                   "originals": "source"}
        stored = Image.open(io.BytesIO(row["image"]["bytes"]))
        assert stored.format == "JPEG" and stored.size == ((8, 8) if row["severity"] == 0 else (32, 32))
    recorded = json.loads((out / "recipe.json").read_text())
    assert recorded["name"] == NAME and recorded["source"]["prompts"] == "hierarchy"

    entry = json.loads((out / "done" / shard.with_suffix(".json").name).read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.update(shards_total=1, complete=True, shards=[entry])
    (out / "manifest.json").write_text(json.dumps(manifest))
    release = json.loads((assemble(out, tmp_path / "release") / "release.json").read_text())
    assert release["name"] == release["recipe"]["name"] == release_recipe(release) == NAME
    assert release["recipe"]["source"]["prompts"] == "hierarchy"
    assert "imagenet-1k" in (tmp_path / "release" / "README.md").read_text().split("source_datasets:")[1][:80]


@pytest.mark.parametrize("value, problem", [
    ("hierarchies", "'hierarchies' is not one of study, hierarchy; did you mean hierarchy?"),
    ("ours", "'ours' is not one of study, hierarchy"),
])
def test_an_unknown_prompts_option_is_refused(value, problem):
    raw = yaml.safe_load((RECIPES_DIR / "study-paired.yaml").read_text())
    raw["source"]["prompts"] = value
    with pytest.raises(DataFileError) as refused:
        parse_recipe(raw, "study-paired.yaml")
    assert str(refused.value) == f"study-paired.yaml: source.prompts: {problem}"


def test_the_prompts_option_is_the_study_sources_only():
    raw = yaml.safe_load((RECIPES_DIR / "v1.yaml").read_text())
    raw["source"]["prompts"] = "hierarchy"
    with pytest.raises(DataFileError, match="source.prompts: applies only to a source of type study"):
        parse_recipe(raw, "v1.yaml")
