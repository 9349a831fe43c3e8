"""Recipes: the shipped ones load; every bad key or value is named with its file and key."""

from __future__ import annotations

import pytest
import yaml

from builder.planning.recipes import RECIPES_DIR, load_recipe, parse_recipe
from imagenet_textcorrupt.errors import DataFileError


@pytest.mark.parametrize("name", ["smoke", "v1"])
def test_shipped_recipes_load(name):
    recipe = load_recipe(name)
    assert recipe.prompts.version == "1.1.0"
    assert set(recipe.prompts.domains) == {"drawing", "weather", "color", "texture", "context"}
    assert recipe.severities == (1, 2, 3)


def test_imagenet_c_rows_are_asked_for_by_a_section_of_their_own():
    from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS

    smoke = load_recipe("smoke")
    assert smoke.imagenet_c.corruptions == tuple(c for c in CORRUPTION_DOMAINS if c != "frost")
    assert smoke.imagenet_c.severities == (1, 3, 5) and smoke.to_dict()["imagenet_c"]["severities"] == (1, 3, 5)
    every = parse_recipe(_with(["imagenet_c"], {"corruptions": "all"}), "r.yaml").imagenet_c
    assert every.corruptions == CORRUPTION_DOMAINS and every.severities == (1, 2, 3, 4, 5)
    without = parse_recipe(_with(["imagenet_c"], _DELETE), "r.yaml")
    assert without.imagenet_c is None and "imagenet_c" not in without.to_dict()  # old builds' recipes unchanged


def test_v1_is_the_first_release():
    recipe = load_recipe("v1")
    assert recipe.selection.classes == "all" and recipe.selection.images_per_class >= 10
    assert recipe.editor.name == "p2p-nulltext" and recipe.editor.model == "CompVis/stable-diffusion-v1-4"
    assert recipe.output.resolution == 512


def _raw():
    return yaml.safe_load((RECIPES_DIR / "smoke.yaml").read_text())


def _with(path, value):
    raw = _raw()
    node = raw
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return raw


_DELETE = object()


@pytest.mark.parametrize(("path", "value", "message"), [
    (["nmae"], "x", "r.yaml: nmae: unknown key; did you mean name?"),
    (["name"], _DELETE, "r.yaml: name: is required"),
    (["name"], "a b", "r.yaml: name: use letters, digits"),
    (["version"], "1", "r.yaml: version: expected MAJOR.MINOR.PATCH"),
    (["seed"], -1, "r.yaml: seed: must be >= 0"),
    (["source", "type"], "folder", "r.yaml: source.type: 'folder' is not one of samples, imagefolder, flat, hub"),
    (["source", "type"], "imagefolder", "r.yaml: source.path: is required for a source of type imagefolder"),
    (["source", "pth"], "x", "r.yaml: source.pth: unknown key; did you mean path?"),
    (["selection", "images_per_class"], 0, "r.yaml: selection.images_per_class: must be positive, got 0"),
    (["selection", "images_per_class"], "ten", "r.yaml: selection.images_per_class: expected int, got 'ten'"),
    (["selection", "classes"], ["n0212304"], "r.yaml: selection.classes: 'n0212304' is not a wnid"),
    (["selection", "classes"], "some", "r.yaml: selection.classes: expected 'all' or a list of wnids"),
    (["prompts", "domains"], ["weather", "colour"], "r.yaml: prompts.domains[1]: 'colour' is not one of"),
    (["prompts", "templates_per_domain"], 0, "r.yaml: prompts.templates_per_domain: expected 'all' or a positive"),
    (["prompts", "version"], _DELETE, "r.yaml: prompts.version: is required"),
    (["severities"], [0, 1], "r.yaml: severities: expected a list of levels 1, 2, ..., got [0, 1]"),
    (["editor", "steps"], 0, "r.yaml: editor.steps: must be positive, got 0"),
    (["editor", "guidance"], "high", "r.yaml: editor.guidance: expected float, got 'high'"),
    (["editor", "params"], [1], "r.yaml: editor.params: expected dict, got [1]"),
    (["output", "resolution"], 100, "r.yaml: output.resolution: must be a positive multiple of 8"),
    (["output", "format"], "jpg", "r.yaml: output.format: 'jpg' is not one of png, jpeg; did you mean jpeg?"),
    (["output", "jpeg_quality"], 101, "r.yaml: output.jpeg_quality: must be 1..100"),
    (["qc", "enabled"], "yes", "r.yaml: qc.enabled: expected bool, got 'yes'"),
    (["qc", "threshold"], 1, "r.yaml: qc.threshold: unknown key"),
    (["imagenet_c", "corruptions"], ["fog", "fogg"], "r.yaml: imagenet_c.corruptions[1]: 'fogg' is not one of"),
    (["imagenet_c", "corruptions"], "some", "r.yaml: imagenet_c.corruptions: expected 'all' or a list of ImageNet-C"),
    (["imagenet_c", "severities"], [3, 6], "r.yaml: imagenet_c.severities: expected a list of ImageNet-C severities"),
    (["imagenet_c", "level"], 1, "r.yaml: imagenet_c.level: unknown key"),
    (["editor", "name"], "imagenet-c", "r.yaml: editor.name: imagenet-c is asked for by the recipe's imagenet_c"),
])
def test_errors_name_file_and_key(path, value, message):
    with pytest.raises(DataFileError) as caught:
        parse_recipe(_with(path, value), "r.yaml")
    assert str(caught.value).startswith(message)


def test_devkit_ground_truth_needs_its_meta():
    raw = _with(["source"], {"type": "flat", "path": "val", "ground_truth": "ILSVRC2012_validation_ground_truth.txt"})
    with pytest.raises(DataFileError, match=r"source\.devkit_meta: is required with the devkit's ground-truth"):
        parse_recipe(raw, "r.yaml")


def test_unknown_recipe_lists_the_shipped_ones(tmp_path):
    with pytest.raises(DataFileError, match=r"no such recipe \(shipped recipes: smoke, study, study-paired, v1\)"):
        load_recipe(tmp_path / "nope.yaml")
