"""The metrics library: values checked by hand on small inputs, the cluster bootstrap, ImageNet-C's corruption
error against published figures, effective robustness, and the input errors."""

from __future__ import annotations

import numpy as np
import pytest

from imagenet_textcorrupt import metrics
from imagenet_textcorrupt.metrics import MetricInputError

# Two source images: A (class 1) is classified right, B (class 2) wrong. Columns: id, source, domain, severity,
# template, top-1 prediction.
ROWS = [
    ("A", "A", "original", 0, "", 1),
    ("A-d", "A", "drawing", 1, "sketch", 1),  # right, same as its original
    ("A-c", "A", "color", 1, "red", 1),  # right
    ("A-w", "A", "weather", 2, "fog", 5),  # wrong, flipped
    ("B", "B", "original", 0, "", 3),
    ("B-d", "B", "drawing", 1, "sketch", 2),  # right, flipped
    ("B-w", "B", "weather", 2, "fog", 3),  # wrong, same as its original
]
LABELS = {"A": 1, "B": 2}


def _compute(rows=ROWS, **kwargs):
    return metrics.compute(predictions=[r[5] for r in rows], references=[LABELS[r[1]] for r in rows],
                           domains=[r[2] for r in rows], severities=[r[3] for r in rows],
                           source_ids=[r[1] for r in rows], groups=["animals" if r[1] == "A" else "food" for r in rows],
                           templates=[r[4] for r in rows], **kwargs)


def _values(block):
    return {k: v["value"] for k, v in block.items() if isinstance(v, dict) and "value" in v}


def test_values_by_hand():
    result = _compute(resamples=0)
    assert result["counts"] == {"rows": 7, "sources": 2, "originals": 2, "edits": 5}
    assert _values(result["clean"]) == {"top1": 0.5}
    edited = _values(result["edited"])
    assert edited["top1"] == pytest.approx(3 / 5)
    # each edit counts its own original: A has 3 edits (right), B 2 (wrong)
    assert edited["clean_top1"] == pytest.approx(3 / 5)
    assert edited["drop"] == pytest.approx(0.0)
    assert edited["relative_robustness"] == pytest.approx(1.0)
    assert edited["flip_rate"] == pytest.approx(2 / 5)
    drawing = _values(result["by_domain"]["drawing"])
    assert drawing == pytest.approx({"top1": 1.0, "clean_top1": 0.5, "drop": -0.5, "relative_robustness": 2.0,
                                     "flip_rate": 0.5})
    weather = _values(result["by_domain"]["weather"])
    assert weather == pytest.approx({"top1": 0.0, "clean_top1": 0.5, "drop": 0.5, "relative_robustness": 0.0,
                                     "flip_rate": 0.5})
    assert list(result["by_domain"]) == ["drawing", "weather", "color"]  # the benchmark's domain order
    assert _values(result["by_severity"]["1"])["top1"] == pytest.approx(1.0)
    assert _values(result["by_severity"]["2"])["top1"] == pytest.approx(0.0)
    assert result["by_domain_severity"]["weather"]["2"]["n"] == 2
    assert _values(result["by_group"]["animals"]["clean"]) == {"top1": 1.0}
    assert _values(result["by_group"]["food"]["edited"])["top1"] == pytest.approx(0.5)
    assert _values(result["by_template"]["drawing: sketch"])["top1"] == pytest.approx(1.0)
    assert result["errors"] == {"drawing": {"1": 0.0}, "weather": {"2": 1.0}, "color": {"1": 0.0}}
    assert "top5" not in result["clean"]  # one prediction per row: no top-5


def test_top5_and_config_classes():
    top5 = [[r[5], 7, 8, 9, LABELS[r[1]]] for r in ROWS]  # the label is always 5th
    config = [[LABELS[r[1]], 0] if r[0] in ("B", "B-w") else [r[5], 0] for r in ROWS]
    result = metrics.compute(top5, [LABELS[r[1]] for r in ROWS], [r[2] for r in ROWS], [r[3] for r in ROWS],
                             [r[1] for r in ROWS], config_predictions=config, resamples=0)
    assert result["edited"]["top5"]["value"] == 1.0
    assert result["clean"]["top1"]["value"] == 0.5
    # masked to the config's classes, B's original and its weather edit become right
    assert result["clean"]["top1_config"]["value"] == 1.0
    assert result["edited"]["top1_config"]["value"] == pytest.approx(4 / 5)


def test_bootstrap_is_deterministic_and_brackets_the_value():
    first, again, other = _compute(seed=3), _compute(seed=3), _compute(seed=4)
    assert first == again
    assert first != other
    for block in (first["clean"], first["edited"], *first["by_domain"].values()):
        for estimate in (v for v in block.values() if isinstance(v, dict)):
            assert estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"]


def test_bootstrap_resamples_source_images_not_rows():
    # Repeating every edit three times adds rows but no independent evidence: the intervals must not narrow.
    tripled = [r for r in ROWS for _ in range(1 if r[2] == "original" else 3)]
    base, more = _compute(seed=1), _compute(tripled, seed=1)
    assert more["edited"]["top1"] == base["edited"]["top1"]
    assert more["edited"]["drop"] == base["edited"]["drop"]


def test_bootstrap_interval_width_matches_the_binomial():
    rng = np.random.default_rng(0)
    n = 400
    right = rng.random(n) < 0.7
    labels = rng.integers(0, 1000, n)
    predictions = np.where(right, labels, (labels + 1) % 1000)
    result = metrics.compute(predictions, labels, ["original"] * n, [0] * n, [str(i) for i in range(n)],
                             resamples=2000)
    p = result["clean"]["top1"]["value"]
    width = result["clean"]["top1"]["ci_high"] - result["clean"]["top1"]["ci_low"]
    assert width == pytest.approx(2 * 1.96 * np.sqrt(p * (1 - p) / n), rel=0.15)


# The raw inputs of a published ImageNet-C figure: AlexNet's error per corruption averaged over the five
# severities (hendrycks/robustness, ImageNet-C/test.py), and the top-1 accuracy of ResNet-50 (torchvision weights,
# 76.13% clean) per corruption averaged over the severities, for the nine corruptions whose raw rates we carry.
# The middle column is the CE published beside those accuracies (a check of the formula on the same inputs); the
# last is the independent figure: ResNet-50's corruption errors as Hendrycks & Dietterich (ICLR 2019) publish them,
# rounded to integers.
ALEXNET_ERROR = {"gaussian_noise": 0.886428, "glass_blur": 0.826268, "impulse_noise": 0.922640,
                 "defocus_blur": 0.819880, "frost": 0.826572, "fog": 0.819324, "brightness": 0.564592,
                 "contrast": 0.853204, "elastic_transform": 0.646056}
RESNET50 = {  # corruption: (mean top-1 accuracy %, CE to 2 decimals, published CE)
    "gaussian_noise": (29.29, 79.77, 80), "glass_blur": (26.79, 88.61, 89), "impulse_noise": (23.81, 82.58, 83),
    "defocus_blur": (38.75, 74.71, 75), "frost": (38.14, 74.84, 75), "fog": (45.83, 66.11, 66),
    "brightness": (68.02, 56.64, 57), "contrast": (39.06, 71.43, 71), "elastic_transform": (45.25, 84.75, 85),
}


def test_corruption_error_reproduces_imagenet_c():
    # Averages over the five severities: the ratio of sums equals the ratio of means, so one value per domain.
    errors = {c: [1 - accuracy / 100] for c, (accuracy, _, _) in RESNET50.items()}
    reference = {c: [e] for c, e in ALEXNET_ERROR.items()}
    ce = metrics.corruption_errors(errors, reference)
    for corruption, (_, two_decimals, published) in RESNET50.items():
        assert ce[corruption] == pytest.approx(two_decimals, abs=0.01)  # accuracies are rounded too
        assert round(ce[corruption]) == published
    assert metrics.mean_corruption_error(errors, reference) == pytest.approx(np.mean([v[1] for v in RESNET50.values()]),
                                                                             abs=0.01)
    assert metrics.mean_corruption_error(reference, reference) == pytest.approx(100.0)


def test_corruption_error_sums_over_severities():
    # sum/sum, not the mean of per-severity ratios: (0.2 + 0.6) / (0.4 + 0.8) = 66.7, not (50 + 75) / 2 = 62.5
    errors = {"drawing": {1: 0.2, 2: 0.6}, "weather": {1: 0.1, 2: 0.1}}
    reference = {"drawing": {1: 0.4, 2: 0.8}, "weather": {1: 0.2, 2: 0.2}, "color": {1: 0.5}}
    assert metrics.corruption_errors(errors, reference) == pytest.approx({"drawing": 200 / 3, "weather": 50.0})
    assert metrics.mean_corruption_error(errors, reference) == pytest.approx((200 / 3 + 50) / 2)
    # relative: ((0.2 - 0.1) + (0.6 - 0.1)) / ((0.4 - 0.3) + (0.8 - 0.3)) = 1.0; weather 0 / (-0.1 + -0.1) = 0
    relative = metrics.relative_mean_corruption_error(errors, 0.1, reference, 0.3)
    assert relative == pytest.approx(50.0)


@pytest.mark.parametrize("errors, reference, message", [
    ({}, {"drawing": [0.5]}, "errors is empty"),
    ({"drawing": [0.5]}, {"weather": [0.5]}, "the reference has no errors for domain 'drawing'"),
    ({"drawing": [0.5, 0.6]}, {"drawing": [0.5]}, "2 severities against the reference's 1"),
    ({"drawing": {1: 0.5, 2: 0.6}}, {"drawing": {1: 0.5, 3: 0.6}}, "severities differ"),
    ({"drawing": [1.5]}, {"drawing": [0.5]}, "error rates are fractions in [0, 1]"),
    ({"drawing": [0.5]}, {"drawing": [0.0]}, "are all zero"),
])
def test_corruption_error_input_errors(errors, reference, message):
    with pytest.raises(MetricInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        metrics.mean_corruption_error(errors, reference)


def test_effective_robustness():
    def logit(p):
        return np.log(p / (1 - p))

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    clean = np.array([0.6, 0.7, 0.8, 0.85, 0.75])
    edited = sigmoid(0.8 * logit(clean) - 0.5)
    edited[4] += 0.05  # one model more robust than its clean accuracy predicts
    out = metrics.effective_robustness(clean, edited, baseline=[True, True, True, True, False])
    assert out["slope"] == pytest.approx(0.8, abs=1e-9)
    assert out["intercept"] == pytest.approx(-0.5, abs=1e-9)
    assert out["residual"][:4] == pytest.approx([0, 0, 0, 0], abs=1e-9)
    assert out["residual"][4] == pytest.approx(0.05, abs=1e-9)
    with pytest.raises(MetricInputError, match="at least two baseline models"):
        metrics.effective_robustness([0.7, 0.7], [0.5, 0.6])


def test_effective_robustness_edges():
    """Two baseline models are enough (an exact line); accuracies of exactly 0 and 1 are accepted (clipped in
    logit space); a list of lists, a value outside [0, 1] and a baseline of the wrong length are refused."""
    out = metrics.effective_robustness([0.6, 0.8], [0.4, 0.7])
    assert out["residual"] == pytest.approx([0, 0], abs=1e-9)
    edge = metrics.effective_robustness([0.0, 0.5, 1.0], [0.0, 0.4, 1.0])
    assert np.all(np.isfinite(edge["predicted"])) and edge["predicted"][0] < 0.01 < 0.99 < edge["predicted"][2]
    with pytest.raises(MetricInputError, match=r"must be lists of the same length, got \(1, 2\) and \(1, 2\)"):
        metrics.effective_robustness([[0.5, 0.6]], [[0.4, 0.5]])
    with pytest.raises(MetricInputError, match=r"edited_accuracy: accuracies are fractions in \[0, 1\], got "
                                               r"\[0.4, 1.2\]"):
        metrics.effective_robustness([0.6, 0.8], [0.4, 1.2])
    with pytest.raises(MetricInputError, match="baseline has 1 entries for 2 models"):
        metrics.effective_robustness([0.6, 0.8], [0.4, 0.7], baseline=[True])


def _rows(**override):
    base = {"predictions": [1, 1, 2], "references": [1, 1, 1], "domains": ["original", "drawing", "weather"],
            "severities": [0, 1, 2], "source_ids": ["a", "a", "a"]}
    base.update(override)
    return base


@pytest.mark.parametrize("override, message", [
    ({"predictions": [1, 1]}, "predictions has 2 rows but references has 3"),
    ({"references": [1, 1, 1000]}, "references: row 2 has class index [1000] outside 0..999"),
    ({"predictions": [1, -1, 2]}, "predictions: row 1 has class index [-1] outside 0..999"),
    ({"domains": ["original", "sketch", "weather"]}, "unknown domain 'sketch' at row 1"),
    ({"severities": [0, 0, 2]}, "row 1 has domain 'drawing' and severity 0"),
    ({"source_ids": ["a", "b", "a"]}, "1 source images have edits but no original row ('b')"),
    ({"domains": ["original", "original", "weather"], "severities": [0, 0, 2]}, "'a' has 2 original rows"),
    ({"references": [1, 2, 1]}, "row 1 (source 'a') has label 2 but its original has 1"),
    ({"predictions": [[1, 2], [1], [2, 3]]}, "predictions: every row needs the same number of ranked classes"),
    ({"references": []}, "no rows to score: references is empty"),
    ({"predictions": ["x", "y", "z"]}, "class indices must be integers"),
])
def test_input_errors_name_the_problem(override, message):
    with pytest.raises(MetricInputError) as caught:
        metrics.compute(**_rows(**override), resamples=0)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_imagenet_c_rows_are_scored_beside_the_text_guided_ones_and_their_mce_is_imagenet_cs():
    """ImageNet-C rows (domain = the corruption) on the same sources: their own by-domain figures, after the
    text-guided domains, and mCE straight from the errors table: CE_d = sum_s E / sum_s E_ref."""
    from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS

    rows = []  # (source, domain, severity); 4 sources, each with fog 1-2, contrast 1-2 and one drawing edit
    for s in range(4):
        rows += [(s, "original", 0), (s, "drawing", 1)]
        rows += [(s, d, v) for d in ("fog", "contrast") for v in (1, 2)]
    labels = [10 * s for s, _, _ in rows]

    def scored(wrong):
        top1 = [label + 1 if (s, d, v) in wrong else label for (s, d, v), label in zip(rows, labels)]
        return metrics.compute(top1, labels, [d for _, d, _ in rows], [v for _, _, v in rows],
                               [f"s{s}" for s, _, _ in rows], resamples=0)

    model = scored({(0, "fog", 1), (0, "fog", 2), (1, "fog", 2), (0, "contrast", 2)})
    reference = scored({(s, "fog", v) for s in range(4) for v in (1, 2)} | {(0, "contrast", 1), (1, "contrast", 2),
                                                                           (2, "contrast", 2), (3, "contrast", 2)})
    assert list(model["by_domain"]) == ["drawing", "fog", "contrast"]  # text-guided first, then ImageNet-C's order
    # the headline figures are the text-guided edits' (all right here); ImageNet-C has its own, on its own scale
    assert model["edited"]["n"] == 4 and model["edited"]["top1"]["value"] == 1.0
    assert list(model["by_severity"]) == ["1"] and model["by_severity"]["1"]["n"] == 4
    assert model["counts"]["edits"] == 4 and model["counts"]["imagenet_c"] == 16
    assert model["imagenet_c"]["top1"]["value"] == pytest.approx(12 / 16)
    assert model["imagenet_c_by_severity"]["2"]["top1"]["value"] == pytest.approx(5 / 8)
    assert "imagenet_c" not in metrics.compute([1, 1], [1, 1], ["original", "drawing"], [0, 1], ["a", "a"],
                                               resamples=0)
    assert CORRUPTION_DOMAINS.index("fog") < CORRUPTION_DOMAINS.index("contrast")
    assert model["by_domain"]["fog"]["top1"]["value"] == pytest.approx(5 / 8)
    assert model["by_domain"]["fog"]["drop"]["value"] == pytest.approx(3 / 8)
    assert model["errors"]["fog"] == pytest.approx({"1": 0.25, "2": 0.5})
    ours = {d: model["errors"][d] for d in ("fog", "contrast")}
    theirs = {d: reference["errors"][d] for d in ("fog", "contrast")}
    # fog: (1 + 2) / (4 + 4); contrast: (0 + 1) / (1 + 3)
    assert metrics.mean_corruption_error(ours, theirs) == pytest.approx(100 * (3 / 8 + 1 / 4) / 2)
