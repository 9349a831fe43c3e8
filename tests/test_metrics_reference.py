"""The paired metrics against their slow reference (tests/metrics_reference.py: the implementation before its
bootstrap was gathered into one matrix product): the same figures, intervals and layout to the last bit, for random
inputs of every shape the metrics take."""

from __future__ import annotations

import json

import numpy as np
import pytest

import metrics_reference as reference
from imagenet_textcorrupt.metrics import bootstrap, compute
from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS, DOMAINS


def random_inputs(rng: np.random.Generator, sources: int, corrupted: bool, ranked: int) -> dict:
    """Rows of `sources` source images in a random order: each original, and up to 9 edits in the text-guided
    domains (and ImageNet-C's, when `corrupted`) at severities 1-3, with groups (some missing) and templates (some
    empty)."""
    domains = list(DOMAINS) + (list(CORRUPTION_DOMAINS[:4]) if corrupted else [])
    rows = []
    for s in range(sources):
        label = int(rng.integers(0, 1000))
        group = [None, "animals", "food", "vehicles"][int(rng.integers(0, 4))]
        rows.append((f"src{s:03d}", label, "original", 0, group, ""))
        for _ in range(int(rng.integers(0, 10))):
            rows.append((f"src{s:03d}", label, domains[int(rng.integers(0, len(domains)))],
                         int(rng.integers(1, 4)), group, ["", "a {}", "the {}"][int(rng.integers(0, 3))]))
    rows = [rows[i] for i in rng.permutation(len(rows))]
    labels = np.array([r[1] for r in rows])
    right = rng.random(len(rows)) < rng.uniform(0, 1)
    top1 = np.where(right, labels, (labels + rng.integers(1, 1000, len(rows))) % 1000)
    predictions = (top1[:, None] + np.arange(ranked)[None, :] * 7) % 1000
    inside = rng.random((len(rows), 1)) < 0.5
    return {"predictions": predictions.tolist(), "references": labels.tolist(), "domains": [r[2] for r in rows],
            "severities": [r[3] for r in rows], "source_ids": [r[0] for r in rows], "groups": [r[4] for r in rows],
            "templates": [r[5] for r in rows],
            "config_predictions": np.where(inside, predictions, (predictions + 1) % 1000).tolist()}


def same_as_reference(inputs: dict, **options) -> None:
    expected = json.dumps(reference.compute(**inputs, **options))
    assert json.dumps(compute(**inputs, **options)) == expected
    assert json.dumps(compute(**inputs, **options)) == expected  # the resampling weights kept from the first call


@pytest.mark.parametrize("seed", range(12))
def test_the_same_figures_as_the_reference_for_random_inputs(seed):
    rng = np.random.default_rng(seed)
    inputs = random_inputs(rng, int(rng.integers(1, 60)), corrupted=bool(seed % 2), ranked=[1, 5, 6][seed % 3])
    if seed % 4 == 0:
        del inputs["config_predictions"]
    if seed % 5 == 0:
        del inputs["groups"], inputs["templates"]
    same_as_reference(inputs, resamples=[0, 1, 9, 200, 1000][seed % 5], seed=seed, confidence=[0.95, 0.5][seed % 2])


def test_the_same_figures_with_numpy_arrays_and_a_single_source():
    inputs = {key: np.asarray(value) if key != "groups" else value
              for key, value in random_inputs(np.random.default_rng(99), 1, True, 5).items()}
    same_as_reference(inputs, resamples=50, seed=3)


def test_the_same_figures_over_several_blocks_of_resamples_and_in_float64(monkeypatch):
    """Resamples drawn in several blocks (as for large datasets), and sums too large for float32's exact range."""
    inputs = random_inputs(np.random.default_rng(7), 40, corrupted=True, ranked=5)
    monkeypatch.setattr(reference, "_WEIGHTS_PER_BLOCK", 1000)
    monkeypatch.setattr(bootstrap, "_WEIGHTS_PER_BLOCK", 1000)
    bootstrap._DRAWN.clear()
    same_as_reference(inputs, resamples=333, seed=11)
    monkeypatch.setattr(bootstrap, "_FLOAT32_EXACT", 0)  # every product in float64
    bootstrap._DRAWN.clear()
    same_as_reference(inputs, resamples=333, seed=12)


def test_the_kept_weights_are_those_of_the_seed_and_counts():
    inputs = random_inputs(np.random.default_rng(5), 30, corrupted=False, ranked=5)
    for seed, resamples in [(1, 100), (2, 100), (1, 101), (1, 100)]:
        same_as_reference(inputs, resamples=resamples, seed=seed)
    fewer = random_inputs(np.random.default_rng(5), 29, corrupted=False, ranked=5)  # other counts: other weights
    same_as_reference(fewer, resamples=100, seed=1)
    same_as_reference(inputs, resamples=100, seed=1)
