"""`imagenet-tc demo` end to end, as the README's first command runs it: what it leaves must be usable."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from imagenet_textcorrupt.cli import main
from imagenet_textcorrupt.results import load_results, predictions_path, read_predictions
from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS


@pytest.fixture(scope="module")
def demo(tmp_path_factory, smoke_build):
    """The demo in a folder where the smoke build already stands (copied from the suite's shared build): the demo
    resumes it, as a rerun does, and does every later step. The README's first command, which CI runs, makes the
    build from scratch."""
    out = tmp_path_factory.mktemp("demo") / "run"
    shutil.copytree(smoke_build, out / "build")
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    return out


def colours(pixels):
    """How many distinct colours an RGB array holds (each packed into one integer: np.unique over rows, axis=0,
    gives the same count 10 to 40 times slower on these plots)."""
    rgb = pixels.reshape(-1, 3).astype(np.uint32)
    return len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]))


def test_the_demo_resumed_the_finished_build(demo, smoke_build):
    assert sorted(p.name for p in (demo / "build" / "shards").iterdir()) == \
        sorted(p.name for p in (smoke_build / "shards").iterdir())
    for shard in (smoke_build / "shards").iterdir():  # the copies (copytree keeps times) were not rewritten
        assert (demo / "build" / "shards" / shard.name).stat().st_mtime_ns == shard.stat().st_mtime_ns


def test_the_release_loads(demo):
    from datasets import load_dataset

    summary = json.loads((demo / "release" / "release.json").read_text())
    rows = load_dataset(str(demo / "release"), "animals", split="test", download_mode="force_redownload")
    assert len(rows) == summary["configs"]["animals"]["rows"] == 58
    assert set(rows["domain"]) == {"original", "drawing", "weather", "color", "texture", "context",
                                   *(c for c in CORRUPTION_DOMAINS if c != "frost")}
    assert rows.features["label"].int2str(rows[0]["label"]) == "tabby cat"


def test_the_results_hold_the_metrics(demo):
    results = load_results(demo / "results" / "results.json").data
    assert results["model"]["pretrained"] is True and results["model"]["name"] == "tf_efficientnet_lite0"
    assert results["metrics"]["counts"] == {"rows": 290, "sources": 5, "originals": 5, "edits": 75,
                                            "imagenet_c": 210}
    assert set(results["metrics"]["by_domain"]) == {"drawing", "weather", "color", "texture", "context",
                                                    *(c for c in CORRUPTION_DOMAINS if c != "frost")}
    # a real classifier on real corruptions of the same photos: it loses accuracy, more at higher severities
    corrupted = {s: b["top1"]["value"] for s, b in results["metrics"]["imagenet_c_by_severity"].items()}
    assert results["metrics"]["clean"]["top1"]["value"] > corrupted["1"] > corrupted["3"] > corrupted["5"]
    clean = results["metrics"]["clean"]["top1"]
    assert clean["ci_low"] <= clean["value"] <= clean["ci_high"]
    predictions = {r["id"]: r for r in read_predictions(predictions_path(demo / "results" / "results.json"))}
    assert predictions["sample-coffee"]["top5"][0] == 967  # espresso


def test_the_plots_are_real_images(demo):
    plots = sorted((demo / "report").glob("*.png"))
    assert [p.name for p in plots] == ["accuracy_by_domain.png", "accuracy_by_severity.png", "clean_vs_edited.png",
                                       "flipped-timm_tf_efficientnet_lite0.png"]
    for plot in plots:
        with Image.open(plot) as image:
            pixels = np.asarray(image.convert("RGB"))
        assert pixels.shape[0] > 300 and pixels.shape[1] > 300
        assert colours(pixels) > 20, plot.name
    assert "| drawing |" in (demo / "report" / "report.md").read_text()


def test_the_contact_sheets(demo):
    from builder.demo import SHEET_DOMAINS
    from imagenet_textcorrupt.contact_sheet import sheet_size

    with Image.open(demo / "contact_sheet.png") as sheet:  # 5 photos, each with 3 corruptions x 3 severities
        assert sheet.size == sheet_size(1 + 3 * len(SHEET_DOMAINS), 5)
    report = (demo / "report" / "report.md").read_text()
    assert "([flipped-timm_tf_efficientnet_lite0.png](flipped-timm_tf_efficientnet_lite0.png))" in report
    summary = (demo / "SUMMARY.md").read_text()
    assert str(demo / "contact_sheet.png") in summary
    assert str(demo / "report" / "flipped-timm_tf_efficientnet_lite0.png") in summary


def test_the_summary_says_what_the_numbers_mean(demo):
    text = (demo / "SUMMARY.md").read_text()
    assert "a real pretrained EfficientNet-Lite0" in text and "centre-cropped to 256 pixels" in text
    assert "**The text-guided edits are noise.**" in text and "ImageNet-C top-1 accuracy, all corruptions" in text
    assert "python -m builder build --recipe v1" in text
    assert str(demo / "results" / "results.json") in text


def test_the_micro_world_section(demo):
    """Six held-out scenes edited by p2p-nulltext on the shipped micro model, read by the micro classifier."""
    figures = json.loads((demo / "micro" / "micro.json").read_text())
    assert figures["editor"] == "p2p-nulltext" and figures["images"] == 6
    assert figures["clean_accuracy"] == 1.0  # the classifier reads every drawn scene's shape
    for kind in ("colour", "background"):
        edits = figures["edits"][kind]
        assert edits["drop"] == pytest.approx(figures["clean_accuracy"] - edits["accuracy"])
        assert edits["read_as_target"] >= 0.5 and 0.5 <= edits["mean_mask_iou"] <= 1.0
    with Image.open(demo / "micro" / "contact_sheet.png") as sheet:  # 6 rows of original + 2 edits at 128 px
        assert sheet.size == (3 * (128 + 4) + 4, 14 + 6 * (128 + 24 + 4) + 4)
        pixels = np.asarray(sheet.convert("RGB"))
    assert colours(pixels) > 500  # pictures, not blank tiles
    summary = (demo / "SUMMARY.md").read_text()
    assert "## The micro world: real edits by a trained model" in summary
    assert f"`{demo / 'micro' / 'contact_sheet.png'}`" in summary
    assert "- accuracy on the originals: 100%" in summary


def test_the_micro_world_compares_editors(demo):
    """p2p-nulltext, p2p-directinv and sdedit on the same six scenes at severity 2, by the editor bench."""
    compared = json.loads((demo / "micro" / "micro.json").read_text())["editor_bench"]
    assert list(compared["editors"]) == ["p2p-nulltext", "p2p-directinv", "sdedit"]
    report = json.loads((demo / "micro" / "editor-bench" / "editor-bench.json").read_text())
    assert report["scene_seeds"] == list(range(5_000_000, 5_000_006)) and report["settings"]["severities"] == [2]
    for label, figures in compared["editors"].items():
        colour = report["editors"][label]["figures"]["colour"]["2"]
        assert figures["colour_target"] == colour["as_target"]["value"] and colour["as_target"]["n"] == 6
        assert 10 < figures["reconstruction_psnr"] <= 60 and 0 <= figures["label_kept"] <= 1
    # null-text's edits are the same edits the section above reads (its inversions are shared, not redone)
    null_text = report["editors"]["p2p-nulltext"]["figures"]["colour"]["2"]["as_target"]["value"]
    assert null_text == json.loads((demo / "micro" / "micro.json").read_text())["edits"]["colour"]["read_as_target"]
    summary = (demo / "SUMMARY.md").read_text()
    assert "| editor | colour edit reaches its caption |" in summary and "| p2p-directinv |" in summary
    assert "`python -m builder editor-bench`" in summary


def test_without_the_pretrained_package_it_says_so(demo, tmp_path, monkeypatch, capsys):
    import imagenet_textcorrupt.models as models

    monkeypatch.setattr(models, "efficientnet_lite0_checkpoint", lambda folder: None)
    out = tmp_path / "run"
    shutil.copytree(demo / "build", out / "build")  # resumes: nothing to generate again
    shutil.copytree(demo / "micro", out / "micro")
    assert main(["demo", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "290 rows in 0 new shards (5 already done)" in printed
    assert f"reused: {out / 'micro'}" in printed
    assert "EfficientNet-Lite0 with RANDOM weights" in printed
    assert load_results(out / "results" / "results.json").model.pretrained is False
    assert "has RANDOM weights (its package is missing), so every accuracy above is chance" in \
        (out / "SUMMARY.md").read_text()
