"""Effective robustness (Taori et al., NeurIPS 2020): a model's edited accuracy minus the accuracy predicted from
its clean accuracy by a line fitted in logit space over a population of models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from imagenet_textcorrupt.metrics.inputs import MetricInputError

def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def effective_robustness(clean_accuracy: Sequence[float], edited_accuracy: Sequence[float],
                         baseline: Sequence[bool] | None = None) -> dict[str, Any]:
    """Effective robustness (Taori et al. 2020) of each model in a population.

    Fits logit(edited) = slope * logit(clean) + intercept by least squares over the baseline models (all by
    default), and returns the fit and, per model, the edited accuracy the fit predicts and the residual
    (measured - predicted, in accuracy units): positive means more robust than its clean accuracy explains.
    """
    clean = np.asarray(clean_accuracy, float)
    edited = np.asarray(edited_accuracy, float)
    if clean.shape != edited.shape or clean.ndim != 1:
        raise MetricInputError(f"clean_accuracy and edited_accuracy must be lists of the same length, got "
                               f"{clean.shape} and {edited.shape}")
    for name, values in (("clean_accuracy", clean), ("edited_accuracy", edited)):
        if not np.all(np.isfinite(values)) or np.any((values < 0) | (values > 1)):
            raise MetricInputError(f"{name}: accuracies are fractions in [0, 1], got {values.tolist()}")
    fit_on = np.ones(len(clean), bool) if baseline is None else np.asarray(baseline, bool)
    if len(fit_on) != len(clean):
        raise MetricInputError(f"baseline has {len(fit_on)} entries for {len(clean)} models")
    if len(np.unique(clean[fit_on])) < 2:
        raise MetricInputError("effective robustness needs at least two baseline models with different clean "
                               "accuracies to fit the line")
    slope, intercept = np.polyfit(_logit(clean[fit_on]), _logit(edited[fit_on]), 1)
    predicted = 1 / (1 + np.exp(-(slope * _logit(clean) + intercept)))
    return {"slope": float(slope), "intercept": float(intercept), "predicted": predicted.tolist(),
            "residual": (edited - predicted).tolist()}


def fitted_curve(slope: float, intercept: float, low: float, high: float, points: int = 201
                 ) -> tuple[list[float], list[float]]:
    """The fit drawn in accuracy space (percent) between two clean accuracies (percent)."""
    xs = [low + (high - low) * i / (points - 1) for i in range(points)]
    ys = []
    for x in xs:
        p = min(max(x / 100, 1e-6), 1 - 1e-6)
        ys.append(100 / (1 + math.exp(-(slope * math.log(p / (1 - p)) + intercept))))
    return xs, ys
