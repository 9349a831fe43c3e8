"""The report: figures of synthetic models checked by hand in report.md, the plots are real PNG images, results on
different dataset revisions never share a table, mCE against a reference and effective robustness by hand."""

from __future__ import annotations

import copy
import json

import pytest
from PIL import Image

from imagenet_textcorrupt import metrics
from imagenet_textcorrupt.estimate import format_estimate
from imagenet_textcorrupt.report import model_labels, report_main, write_report
from imagenet_textcorrupt.results import check_results, write_results

# Four source images. s0..s2 have five edits each, s3 only one, so the paired clean accuracy of the edits differs
# from the clean accuracy of the originals.
SOURCES = {"s0": (10, "animals"), "s1": (20, "animals"), "s2": (30, "devices"), "s3": (40, "devices")}
EDITS = {s: [("drawing", 1), ("drawing", 2), ("weather", 1), ("weather", 2), ("color", 1)] for s in ("s0", "s1", "s2")}
EDITS["s3"] = [("drawing", 1)]
TEMPLATES = {"drawing": "a pencil drawing of {a} {class}", "weather": "{a} {class} in fog",
             "color": "a grayscale photo of {a} {class}"}
ALL_WEATHER = {(s, "weather", v) for s in ("s0", "s1", "s2") for v in (1, 2)}
# the rows each model gets wrong: (source, domain, severity)
WRONG = {
    # clean 3/4 = 75.0; edits 10/16 = 62.5; paired clean 15/16 = 93.75; drawing 5/7, weather 2/6, color 3/3
    "alpha": {("s3", "original", 0), ("s1", "drawing", 2), ("s2", "drawing", 2), ("s0", "weather", 2),
              ("s1", "weather", 2), ("s2", "weather", 2), ("s2", "weather", 1)},
    # clean 2/4 = 50.0; edits 6/16 = 37.5
    "beta": {("s2", "original", 0), ("s3", "original", 0), *ALL_WEATHER, ("s0", "drawing", 2), ("s1", "drawing", 2),
             ("s2", "drawing", 2), ("s2", "color", 1)},
    # clean 3/4 = 75.0; edits 14/16 = 87.5
    "gamma": {("s0", "original", 0), ("s1", "drawing", 1), ("s2", "color", 1)},
    # the reference: clean 2/4; errors drawing {1: 2/4, 2: 3/3}, weather {1: 3/3, 2: 3/3}, color {1: 2/3}
    "ref": {("s2", "original", 0), ("s3", "original", 0), ("s0", "drawing", 1), ("s1", "drawing", 1),
            ("s0", "drawing", 2), ("s1", "drawing", 2), ("s2", "drawing", 2), *ALL_WEATHER,
            ("s0", "color", 1), ("s1", "color", 1)},
}
FAMILY = {"alpha": "cnn", "beta": "transformer", "gamma": "hybrid", "ref": "cnn"}
RESAMPLES = 200


def _rows() -> list[tuple[str, str, int]]:
    rows = []
    for source in SOURCES:
        rows.append((source, "original", 0))
        rows += [(source, domain, severity) for domain, severity in EDITS[source]]
    return rows


def _metrics(model: str) -> dict:
    rows = _rows()
    labels = [SOURCES[s][0] for s, _, _ in rows]
    top5 = [[label + k for k in range(5)] if (s, d, v) not in WRONG[model] else [label + 100 + k for k in range(5)]
            for (s, d, v), label in zip(rows, labels)]
    return metrics.compute(top5, labels, [d for _, d, _ in rows], [v for _, _, v in rows], [s for s, _, _ in rows],
                           groups=[SOURCES[s][1] for s, _, _ in rows],
                           templates=[TEMPLATES.get(d, "") for _, d, _ in rows], config_predictions=top5,
                           resamples=RESAMPLES, seed=0)


_CACHE: dict[str, dict] = {}


def make_results(model: str, sha: str = "a" * 40, config: str = "all", version: str = "0.1.0",
                 metrics_version: str | None = None) -> dict:
    """A results dict with the layout of the files `imagenet-tc evaluate` writes."""
    if model not in _CACHE:
        _CACHE[model] = _metrics(model)
    scored = copy.deepcopy(_CACHE[model])
    if metrics_version:
        scored["metrics_version"] = metrics_version
    return {
        "format": "imagenet-tc-results", "format_version": 1, "created": "2026-01-01T00:00:00Z",
        "dataset": {"id": "imagenet-tc/imagenet-tc", "config": config, "split": "test", "revision": None,
                    "sha": sha, "version": version, "fingerprint": None, "rows": len(_rows())},
        "model": {"id": f"timm:{model}", "source": "timm", "name": model, "revision": None, "pretrained": True,
                  "checkpoint": None, "family": FAMILY[model], "parameters": 1000, "pretrained_tag": "in1k"},
        "preprocessing": {"library": "timm", "input_size": [3, 224, 224], "interpolation": "bicubic",
                          "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "crop_pct": 0.875, "crop_mode": "center"},
        "run": {"batch_size": 8, "device": "cpu", "dtype": "float32", "limit": None, "streaming": False,
                "workers": 1, "seconds": 1.0, "images_per_second": 20.0},
        "versions": {"python": "3.11.7", "imagenet-textcorrupt": "0.1.0", "numpy": "2.4.6"},
        "predictions": {"file": "results.predictions.jsonl", "sha256": "0" * 64, "rows": len(_rows())},
        "metrics": scored,
    }


def _row(text: str, name: str, tables: int = 1, which: int = 0) -> list[str]:
    """The cells after the first of the table row titled `name`, in the `which`-th of the `tables` tables that
    have one."""
    lines = [line for line in text.splitlines() if line.startswith(f"| {name} |")]
    assert len(lines) == tables, f"{len(lines)} rows titled {name!r}"
    return [cell.strip() for cell in lines[which].strip().strip("|").split("|")][1:]


def _with_ci(value: str, estimate: dict) -> str:
    return f"{value} [{100 * estimate['ci_low']:.1f}, {100 * estimate['ci_high']:.1f}]"


def _sections(text: str) -> list[str]:
    return text.split("\n## ")[1:]


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, str]:
    alpha, beta = make_results("alpha"), make_results("beta")
    written = write_report([alpha, beta], tmp_path_factory.mktemp("report"))
    return alpha, beta, written


def test_synthetic_results_have_the_results_layout():
    for model in WRONG:
        assert check_results(make_results(model)) == []
    real_layout = {"format", "format_version", "created", "dataset", "model", "preprocessing", "run", "versions",
                   "predictions", "metrics"}
    assert set(make_results("alpha")) == real_layout


def test_synthetic_figures_are_the_hand_computed_ones():
    m = make_results("alpha")["metrics"]
    assert m["clean"]["top1"]["value"] == 0.75
    assert m["edited"]["top1"]["value"] == 10 / 16
    assert m["edited"]["clean_top1"]["value"] == 15 / 16
    assert m["errors"] == {"drawing": {"1": 0.0, "2": pytest.approx(2 / 3)},
                           "weather": {"1": pytest.approx(1 / 3), "2": 1.0}, "color": {"1": 0.0}}
    assert make_results("beta")["metrics"]["edited"]["top1"]["value"] == 6 / 16


def test_report_has_every_model_and_the_figures_by_hand(two_models):
    alpha, beta, written = two_models
    assert set(written) == {"report.md", "accuracy_by_domain.png", "clean_vs_edited.png", "accuracy_by_severity.png"}
    text = written["report.md"].read_text(encoding="utf-8")
    assert "timm:alpha" in text and "timm:beta" in text
    a, b = alpha["metrics"], beta["metrics"]
    # column order follows the input order: alpha, then beta
    assert _row(text, "clean top-1, all 1000 classes (%)") == [_with_ci("75.0", a["clean"]["top1"]),
                                                                 _with_ci("50.0", b["clean"]["top1"])]
    assert _row(text, "edited top-1, all 1000 classes (%)") == [_with_ci("62.5", a["edited"]["top1"]),
                                                                  _with_ci("37.5", b["edited"]["top1"])]
    assert _row(text, "paired clean top-1 of the edits (%)")[0] == _with_ci("93.8", a["edited"]["clean_top1"])
    assert _row(text, "family") == ["cnn", "transformer"]
    assert _row(text, "dataset revision") == ["v0.1.0, sha aaaaaaaa"] * 2
    # accuracies over the config's classes are a separate, clearly named row
    assert _row(text, "edited top-1 among the config's classes only (%)")[0].startswith("62.5 [")
    # by domain, alpha: edited top-1 drawing 5/7, weather 2/6, color 3/3, then the drops against the paired
    # clean accuracies (drawing 6/7, weather 6/6, color 3/3)
    assert _row(text, "drawing", 2)[0].startswith("71.4 [")
    assert _row(text, "weather", 2)[0].startswith("33.3 [")
    assert _row(text, "color", 2)[0] == "100.0 [100.0, 100.0]"
    assert _row(text, "drawing", 2, 1)[0].startswith("14.3 [")
    assert _row(text, "weather", 2, 1)[0].startswith("66.7 [")
    assert _row(text, "color", 2, 1)[0] == "0.0 [0.0, 0.0]"
    assert _row(text, "0 (clean)") == [_with_ci("75.0", a["clean"]["top1"]), _with_ci("50.0", b["clean"]["top1"])]
    assert "animals" in text and "devices" in text
    assert "effective robustness" not in _sections(text)[0]  # two models only
    assert "mCE" not in _sections(text)[0]  # no reference
    reading = text.split("## How to read this", 1)[1]
    for phrase in ("Drop", "Relative robustness", "Flip rate", "95% percentile bootstrap", "source images",
                   "config's classes"):
        assert phrase in reading


def test_plots_are_png_images_with_content(two_models):
    _, _, written = two_models
    for name in ("accuracy_by_domain.png", "clean_vs_edited.png", "accuracy_by_severity.png"):
        path = written[name]
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as image:
            assert image.format == "PNG"
            width, height = image.size
            assert width >= 400 and height >= 300
            colours = image.convert("RGB").getcolors(maxcolors=width * height)
            assert len(colours) > 20
            assert max(count for count, _ in colours) < 0.95 * width * height
        assert f"]({name})" in written["report.md"].read_text(encoding="utf-8")


@pytest.mark.parametrize(("other", "reason"), [
    ({"sha": "b" * 40}, "dataset sha is " + "a" * 40),
    ({"version": "0.2.0"}, "dataset version is 0.1.0"),
    ({"config": "animals"}, "config is all"),
    ({"metrics_version": "2.0.0"}, f"metrics version is {metrics.METRICS_VERSION}"),
])
def test_results_on_different_data_are_separate_sections(tmp_path, other, reason):
    results = [make_results("alpha"), make_results("beta", **other), make_results("gamma")]
    written = write_report(results, tmp_path)
    text = written["report.md"].read_text(encoding="utf-8")
    sections = _sections(text)[:-1]  # the last is "How to read this"
    assert len(sections) == 2
    first, second = sections
    assert first.startswith("1. ") and second.startswith("2. ")
    assert "timm:alpha" in first and "timm:gamma" in first and "timm:beta" not in first
    assert "timm:beta" in second and "timm:alpha" not in second
    assert "Kept apart from the other sections" in first and "Kept apart from the other sections" in second
    assert reason in first
    assert "not comparable" in text.split("\n## ")[0]
    config = other.get("config", "all")
    assert {"report.md", "accuracy_by_domain-1-all.png", "clean_vs_edited-1-all.png",
            "accuracy_by_severity-1-all.png", f"accuracy_by_domain-2-{config}.png"} <= set(written)
    assert "accuracy_by_domain.png" not in written


def test_same_data_is_one_section(tmp_path):
    text = write_report([make_results("alpha"), make_results("beta")], tmp_path)["report.md"].read_text()
    assert "Kept apart" not in text and len(_sections(text)) == 2  # one section and "How to read this"


def _mce_by_hand(alpha_errors: dict, ref_errors: dict) -> float:
    return 100 * sum(sum(alpha_errors[d]) / sum(ref_errors[d]) for d in alpha_errors) / len(alpha_errors)


def test_mce_against_a_reference_by_hand(tmp_path):
    alpha, reference = make_results("alpha"), make_results("ref")
    # top-1 errors by severity, counted from WRONG above
    ours = {"drawing": [0, 2 / 3], "weather": [1 / 3, 1], "color": [0]}
    theirs = {"drawing": [2 / 4, 1], "weather": [1, 1], "color": [2 / 3]}
    mce = _mce_by_hand(ours, theirs)
    assert mce == pytest.approx(100 * 10 / 27)
    relative = 100 * sum(sum(e - 0.25 for e in ours[d]) / sum(e - 0.5 for e in theirs[d]) for d in ours) / 3
    assert relative == pytest.approx(-100 / 9)
    text = write_report([alpha, reference], tmp_path, reference=reference)["report.md"].read_text()
    assert _row(text, "mCE vs reference (100 = reference)") == [f"{mce:.1f}", "100.0"] == ["37.0", "100.0"]
    assert _row(text, "relative mCE vs reference") == ["-11.1", "100.0"]
    assert "No domain or severity was skipped" in text


def test_mce_uses_only_the_cells_both_have(tmp_path):
    alpha, reference = make_results("alpha"), make_results("ref")
    del reference["metrics"]["errors"]["weather"]["2"]
    text = write_report([alpha], tmp_path, reference=reference)["report.md"].read_text()
    mce = _mce_by_hand({"drawing": [0, 2 / 3], "weather": [1 / 3], "color": [0]},
                       {"drawing": [2 / 4, 1], "weather": [1], "color": [2 / 3]})
    assert _row(text, "mCE vs reference (100 = reference)") == [f"{mce:.1f}"] == ["25.9"]
    assert "skipped weather severity 2 (only the model has it)" in text


def test_reference_on_other_data_is_not_used(tmp_path):
    text = write_report([make_results("alpha")], tmp_path, reference=make_results("ref", sha="c" * 40)
                        )["report.md"].read_text()
    assert "mCE vs reference" not in text
    assert "mCE not computed" in text and "dataset sha" in text


def test_effective_robustness_with_three_models(tmp_path):
    results = [make_results(m) for m in ("alpha", "beta", "gamma")]
    text = write_report(results, tmp_path)["report.md"].read_text()
    fit = metrics.effective_robustness([0.75, 0.5, 0.75], [10 / 16, 6 / 16, 14 / 16])
    assert _row(text, "effective robustness (points)") == [f"{100 * r:+.1f}" for r in fit["residual"]]
    # alpha and gamma share a clean accuracy: the one with the higher edited accuracy is above the fit
    assert fit["residual"][2] > 0 > fit["residual"][0]
    assert "logit(edited)" in text


def test_labels_of_equal_model_ids_are_told_apart():
    same = [make_results("alpha", config="all"), make_results("alpha", config="animals")]
    assert model_labels(same) == ["timm:alpha (all)", "timm:alpha (animals)"]
    twins = [make_results("alpha"), make_results("alpha")]
    assert model_labels(twins) == ["timm:alpha #1", "timm:alpha #2"]
    assert model_labels([make_results("alpha"), make_results("beta")]) == ["timm:alpha", "timm:beta"]


def test_format_estimate():
    assert format_estimate({"value": 0.613, "ci_low": 0.58, "ci_high": 0.641}) == "61.3 [58.0, 64.1]"
    assert format_estimate({"value": None, "ci_low": None, "ci_high": None}) == "–"
    assert format_estimate({"value": 0.5, "ci_low": None, "ci_high": None}) == "50.0"
    assert format_estimate(None) == "–"


def test_report_main(tmp_path, capsys):
    paths = []
    for model in ("alpha", "beta"):
        path = tmp_path / f"{model}.json"
        write_results(path, make_results(model))
        paths.append(str(path))
    reference = tmp_path / "ref.json"
    write_results(reference, make_results("ref"))
    assert report_main(paths, str(tmp_path / "out"), str(reference)) == 0
    assert str(tmp_path / "out" / "report.md") in capsys.readouterr().out
    text = (tmp_path / "out" / "report.md").read_text()
    assert "mCE vs reference" in text
    # scored on the Hub: the report downloads nothing, and says which command draws the sheet of flipped edits
    from imagenet_textcorrupt.report.pictures import largest_drops
    from imagenet_textcorrupt.results import load_results

    drops = largest_drops(load_results(paths[0]))
    assert drops and drops == sorted(drops, key=lambda d: -load_results(paths[0]).metrics.by_domain[d]["drop"].value)
    assert ("- **timm:alpha**: scored on the Hub, which a report does not download from; `imagenet-tc show "
            f"imagenet-tc/imagenet-tc --revision {'a' * 40} --config all --results {paths[0]} --domain "
            f"{','.join(drops)} --out flipped.png` draws its sheet") in text
    assert not list((tmp_path / "out").glob("flipped-*"))
    # scored on a local release folder that is not here (another machine)
    moved = make_results("alpha", sha=None)
    moved["dataset"].update(id="/elsewhere/releases/v0.1.0", fingerprint="sha256:" + "b" * 64)
    write_results(tmp_path / "moved.json", moved)
    assert report_main([str(tmp_path / "moved.json")], str(tmp_path / "out4"), None) == 0
    assert ("its release folder /elsewhere/releases/v0.1.0 is not here; `imagenet-tc show FOLDER --config all "
            f"--results {tmp_path / 'moved.json'} --domain") in (tmp_path / "out4" / "report.md").read_text()

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({k: v for k, v in make_results("alpha").items() if k != "metrics"}))
    assert report_main([paths[0], str(broken)], str(tmp_path / "out2"), None) == 1
    error = capsys.readouterr().err
    assert "broken.json" in error and "missing metrics.clean.top1.value" in error
    assert not (tmp_path / "out2").exists()
    assert report_main([str(tmp_path / "absent.json")], str(tmp_path / "out3"), None) == 1
    assert "no such file" in capsys.readouterr().err


def test_write_report_rejects_what_is_not_a_results_dict(tmp_path):
    with pytest.raises(ValueError, match="results\\[1\\].*missing model.id"):
        write_report([make_results("alpha"), {"format": "imagenet-tc-results"}], tmp_path)
    with pytest.raises(ValueError, match="no results"):
        write_report([], tmp_path)
