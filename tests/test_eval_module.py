"""The `evaluate` module in eval/imagenet_tc/: loaded by path as users load it, it returns exactly the library's
dictionary and rejects bad inputs with a ValueError naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imagenet_textcorrupt import metrics

MODULE = Path(__file__).resolve().parent.parent / "eval" / "imagenet_tc"
INPUTS = {
    "predictions": [[281, 1, 2, 3, 4], [281, 1, 2, 3, 4], [285, 281, 2, 3, 4], [967, 5, 6, 7, 8],
                    [969, 967, 6, 7, 8], [967, 5, 6, 7, 8]],
    "references": [281, 281, 281, 967, 967, 967],
    "domains": ["original", "drawing", "weather", "original", "drawing", "color"],
    "severities": [0, 1, 2, 0, 1, 3],
    "source_ids": ["cat", "cat", "cat", "cup", "cup", "cup"],
    "groups": ["animals", "animals", "animals", "food", "food", "food"],
}


@pytest.fixture(scope="module")
def module():
    import evaluate

    return evaluate.load(str(MODULE))


def test_same_dictionary_as_the_library(module):
    templates = ["", "sketch", "fog", "", "sketch", "red"]
    ours = module.compute(**INPUTS, templates=templates, resamples=300, seed=5)
    assert ours == metrics.compute(**INPUTS, templates=templates, resamples=300, seed=5)
    assert ours["edited"]["top1"]["value"] == pytest.approx(2 / 4)
    assert ours["edited"]["top5"]["value"] == 1.0
    top1_only = module.compute(**{**INPUTS, "predictions": [p[0] for p in INPUTS["predictions"]]}, resamples=0)
    assert top1_only == metrics.compute(**{**INPUTS, "predictions": [p[0] for p in INPUTS["predictions"]]},
                                        resamples=0)
    assert "top5" not in top1_only["edited"]


@pytest.mark.parametrize("change, message", [
    ({"references": [281, 281, 281, 967, 967]}, "Mismatch in the number of predictions (6) and references (5)"),
    ({"references": [281, 281, 281, 967, 967, 1967]}, "references: row 5 has class index [1967] outside 0..999"),
    ({"domains": ["original", "drawing", "snow", "original", "drawing", "color"]}, "unknown domain 'snow' at row 2"),
    ({"source_ids": ["cat", "cat", "cat", "mug", "cup", "cup"]},
     "1 source images have edits but no original row ('cup')"),
])
def test_bad_inputs_raise_value_errors(module, change, message):
    with pytest.raises(ValueError) as caught:
        module.compute(**{**INPUTS, **change}, resamples=0)
    assert message in str(caught.value)


def test_laid_out_as_an_evaluate_space():
    assert {p.name for p in MODULE.iterdir() if not p.name.startswith((".", "__"))} >= {
        "imagenet_tc.py", "README.md", "app.py", "requirements.txt"}
    card = (MODULE / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["app_file"] == "app.py" and "metric" in header["tags"]
    assert "imagenet-textcorrupt" in (MODULE / "requirements.txt").read_text()
