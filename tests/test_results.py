"""The typed results model: a results file parsed once into `Results`, with one rule for which dataset revision a
result is on, one estimate type and one way to write it, and one rule for names made into paths."""

from __future__ import annotations

import copy
import json
import math

import pytest

from imagenet_textcorrupt.estimate import Estimate, format_estimate, format_number
from imagenet_textcorrupt.results import DatasetRef, Results, ResultsError, check_results, load_results
from imagenet_textcorrupt.schema import path_component
from results_factory import SHA_A, write_results_file


@pytest.fixture(scope="module")
def results_path(tmp_path_factory):
    return write_results_file(tmp_path_factory.mktemp("results"), model="timm:resnet50", clean=0.8, edited=0.6)


def test_a_file_parses_into_typed_fields_that_match_its_json(results_path):
    data = json.loads(results_path.read_text())
    results = load_results(results_path)
    assert results.data == data
    assert (results.dataset.id, results.dataset.config, results.dataset.rows) == ("org/imagenet-tc", "all", 100)
    assert (results.dataset.sha, results.dataset.revision, results.dataset.version) == (SHA_A, "v1.0.0", "1.0.0")
    assert (results.model.id, results.model.family, results.model.pretrained) == ("timm:resnet50", "cnn", True)
    assert results.model.parameters == 25_557_032
    m = results.metrics
    assert (m.rows, m.sources, m.edits, m.resamples, m.seed) == (100, 20, 80, 100, 0)
    assert m.clean["top1"] == Estimate(**data["metrics"]["clean"]["top1"])
    assert m.edited["drop"].value == pytest.approx(data["metrics"]["edited"]["drop"]["value"])
    assert set(m.by_domain) == {"drawing", "weather"} and set(m.by_severity) == {"1", "2"}
    assert m.by_group["animals"]["clean"]["top1"] == m.clean["top1"]
    assert m.errors["drawing"]["1"] == pytest.approx(1 - data["metrics"]["by_domain_severity"]["drawing"]["1"]
                                                     ["top1"]["value"])
    assert results.comparability_problems() == []
    assert Results.parse(results) is results


@pytest.mark.parametrize("sha, fingerprint, version, key, label", [
    (SHA_A, "sha256:" + "f" * 64, "1.0.0", SHA_A, "v1.0.0, sha aaaaaaaa, fingerprint ffffffff"),
    (None, "sha256:" + "f" * 64, "1.0.0", "sha256:" + "f" * 64, "v1.0.0, fingerprint ffffffff"),
    (None, None, "1.0.0", "version 1.0.0", "v1.0.0"),
    (None, None, None, None, "v1.0.0 (not resolved to a commit)"),  # e.g. evaluated offline
])
def test_one_rule_says_which_revision_a_result_is_on(sha, fingerprint, version, key, label):
    dataset = DatasetRef("org/imagenet-tc", "all", "test", 10, revision="v1.0.0", sha=sha, fingerprint=fingerprint,
                         version=version)
    assert dataset.revision_key == key
    assert dataset.revision_label == label
    assert DatasetRef("org/imagenet-tc", "all", "test", 10).revision_label == "unknown revision"


@pytest.mark.parametrize("path, value, message", [
    (("dataset", "sha"), 7, "dataset.sha is 7, expected str"),
    (("model", "parameters"), "25M", "model.parameters is '25M', expected an integer"),
    (("run", "limit"), True, "run.limit is True, expected an integer"),
    (("metrics", "bootstrap", "confidence"), "95%", "metrics.bootstrap.confidence is '95%', expected a number"),
    (("metrics", "clean", "top1", "ci_low"), "low", "metrics.clean.top1.ci_low is 'low', expected a number or null"),
    (("predictions",), [1], "predictions is [1], expected an object"),
])
def test_a_field_of_the_wrong_type_is_named_with_its_path(results_path, path, value, message):
    data = json.loads(results_path.read_text())
    broken = copy.deepcopy(data)
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert message in check_results(broken)
    with pytest.raises(ResultsError, match="results\\[3\\]: .*" + message.replace("[", "\\[").replace("]", "\\]")):
        Results.parse(broken, "results[3]")


def test_optional_fields_may_be_null_or_absent(results_path):
    data = json.loads(results_path.read_text())
    data["dataset"]["sha"] = None
    del data["model"]["parameters"]
    del data["run"]
    results = Results.parse(data)
    assert results.dataset.revision_key == "version 1.0.0"
    assert results.model.parameters is None and results.limit is None and results.dtype is None


def test_random_weights_and_limits_are_not_comparable(results_path):
    data = json.loads(results_path.read_text())
    data["model"]["pretrained"] = False
    data["run"]["limit"] = 5
    assert Results.parse(data).comparability_problems() == [
        "the model has random weights (--no-pretrained)", "it covers only the first 5 source images (--limit)"]


@pytest.mark.parametrize("estimate, signed, text", [
    ({"value": 0.6134, "ci_low": 0.58, "ci_high": 0.641}, False, "61.3 [58.0, 64.1]"),
    ({"value": 0.02, "ci_low": -0.0004, "ci_high": 0.05}, True, "+2.0 [+0.0, +5.0]"),  # never -0.0
    ({"value": 0.5, "ci_low": None, "ci_high": None}, False, "50.0"),
    ({"value": None, "ci_low": None, "ci_high": None}, False, "–"),
    (None, False, "–"),
    (Estimate(0.25, 0.2, 0.3), False, "25.0 [20.0, 30.0]"),
])
def test_one_formatter_writes_every_estimate(estimate, signed, text):
    assert format_estimate(estimate, signed=signed) == text


def test_an_estimate_in_percent_and_as_an_error_bar():
    estimate = Estimate(0.61234, 0.5, 0.7)
    assert estimate.percent() == pytest.approx(61.234)
    assert estimate.percent(2) == 61.23
    assert estimate.error_bar() == pytest.approx((61.234, 11.234, 8.766))
    assert Estimate(0.5).error_bar() == (50.0, 0.0, 0.0)
    value, down, up = Estimate(None).error_bar()
    assert math.isnan(value) and (down, up) == (0.0, 0.0)
    assert Estimate(None).percent() is None
    assert Estimate.from_json({"value": float("nan")}) == Estimate(None)
    assert format_number(-0.04) == "0.0" and format_number(2.0, signed=True) == "+2.0"


@pytest.mark.parametrize("text, name", [
    ("timm:resnet50", "timm_resnet50"),
    ("hf-hub:org/vit_base.augreg", "hf-hub_org_vit_base.augreg"),
    ("..", "_"),
    ("../../etc", "etc"),
    (".hidden", "hidden"),
    ("", "_"),
    ("animals", "animals"),
])
def test_names_become_path_components_that_cannot_escape(text, name):
    assert path_component(text) == name
    assert "/" not in name and not name.startswith(".")
