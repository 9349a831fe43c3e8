"""Quality scores on a tiny CLIP model: ranges, the originals' conventions, thresholds, structural similarity."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from builder.generation.quality import QualityScorer, ssim
from builder.planning.recipes import QCSpec


@pytest.fixture(scope="module")
def scorer():
    return QualityScorer(QCSpec(model="tiny:clip", label_rank_max=1000, edit_direction_min=-1.0, ssim_min=0.0))


@pytest.fixture(scope="module")
def images(photos):
    return photos["cat"].resize((64, 64)), photos["coffee"].resize((64, 64))


def test_scores_and_conventions(scorer, images):
    cat, coffee = images
    scores = scorer.score([cat, coffee, cat], [281, 967, 281], [None, cat, cat],
                          ["a tabby cat", "a tabby cat", "a tabby cat"], ["", "an espresso", "a red tabby cat"])
    original, changed, unchanged = scores
    assert (original.edit_direction, original.ssim) == (0.0, 1.0)  # an original is its own source
    for s in scores:
        assert 1 <= s.label_rank <= 1000 and 0.0 < s.label_prob < 1.0
        assert -1.0 <= s.edit_direction <= 1.0 and s.passed
    assert unchanged.ssim == pytest.approx(1.0) and changed.ssim < 0.9
    assert unchanged.edit_direction == 0.0  # no image change: no direction


def test_rank_is_consistent_with_probabilities(scorer, images):
    cat, _ = images
    probs = [scorer.score([cat], [label], [None], ["a tabby cat"], [""])[0].label_prob for label in (0, 281, 999)]
    ranks = [scorer.score([cat], [label], [None], ["a tabby cat"], [""])[0].label_rank for label in (0, 281, 999)]
    order = np.argsort([-p for p in probs])
    assert [ranks[i] for i in order] == sorted(ranks)


@pytest.mark.parametrize(("spec", "passed"), [
    (dict(label_rank_max=1), False),  # the tiny model does not put the cat first
    (dict(ssim_min=0.99), False),
    (dict(edit_direction_min=1.0), False),
    (dict(), True),
])
def test_thresholds_decide_passed(images, spec, passed):
    cat, coffee = images
    strict = QualityScorer(QCSpec(model="tiny:clip", **{"label_rank_max": 1000, "edit_direction_min": -1.0,
                                                         "ssim_min": 0.0, **spec}))
    result = strict.score([coffee], [281], [cat], ["a tabby cat"], ["a red tabby cat"])[0]
    assert result.passed is passed


def test_ssim():
    rng = np.random.default_rng(0)
    a = Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    b = Image.fromarray(255 - np.asarray(a))
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) < 0


def _rank(probabilities: list[float], label: int) -> int:
    """The rank as the docs define it, written here: 1 + the classes scored strictly above the true one."""
    return 1 + sum(p > probabilities[label] for p in probabilities)


@pytest.mark.parametrize("edited", [False, True], ids=["original", "edit"])
def test_label_rank_at_most_the_limit_passes(scorer, images, monkeypatch, edited):
    """A row passes its label check when the rank is at most `label_rank_max`: at the limit it passes, one below it
    fails (the other thresholds let everything through). The rank is checked against one computed here from the
    probabilities of all 1000 classes."""
    from dataclasses import replace

    cat, coffee = images
    image, source = (coffee, cat) if edited else (cat, None)
    every = scorer.score([image] * 1000, list(range(1000)), [None] * 1000, [""] * 1000, [""] * 1000)
    rank = _rank([s.label_prob for s in every], 281)
    assert rank >= 2, "the boundary needs a rank above 1 (the tiny model does not put the cat first)"
    outcome = {}
    for limit in (rank, rank - 1):
        monkeypatch.setattr(scorer, "spec", replace(scorer.spec, label_rank_max=limit))
        result = scorer.score([image], [281], [source], ["a tabby cat"], ["an espresso"])[0]
        assert result.label_rank == rank
        outcome[limit] = result.passed
    assert outcome == {rank: True, rank - 1: False}
