"""A figure with its interval, and the one way ImageNet-TC writes it: in the terminal summary, the demo, the
report, the leaderboard and the Hub entries of a submission.

An estimate is stored in the results' "metrics" as `{"value", "ci_low", "ci_high"}`, fractions (accuracies,
drops, rates), any of them null where undefined; `Estimate` is that object, read once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MISSING = "–"  # what a figure that is undefined is written as


@dataclass(frozen=True)
class Estimate:
    """A fraction and its bootstrap interval; None where undefined (e.g. no edits in a subset)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None

    @classmethod
    def from_json(cls, data: Any) -> Estimate | None:
        """The estimate of a results' metrics object, None when there is none."""
        if isinstance(data, Estimate) or data is None:
            return data
        if not isinstance(data, Mapping) or "value" not in data:
            return None
        return cls(_finite(data.get("value")), _finite(data.get("ci_low")), _finite(data.get("ci_high")))

    def to_json(self) -> dict[str, float | None]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}

    def percent(self, digits: int | None = None) -> float | None:
        """The value in percent (rounded to `digits` decimals when given); None where undefined."""
        if self.value is None:
            return None
        return 100 * self.value if digits is None else round(100 * self.value, digits)

    def error_bar(self, scale: float = 100.0) -> tuple[float, float, float]:
        """(value, distance down to the interval's low end, distance up to its high end), scaled, for a plot;
        (nan, 0, 0) where undefined and zero distances where there is no interval."""
        if self.value is None:
            return math.nan, 0.0, 0.0
        low = self.value if self.ci_low is None else self.ci_low
        high = self.value if self.ci_high is None else self.ci_high
        return scale * self.value, scale * max(self.value - low, 0.0), scale * max(high - self.value, 0.0)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def format_number(value: float | None, signed: bool = False) -> str:
    """One decimal (`61.3`, `+2.0` when signed); never `-0.0`; `–` where undefined."""
    if value is None or not math.isfinite(value):
        return MISSING
    rounded = round(value, 1) or 0.0  # -0.0 -> 0.0
    return f"{rounded:+.1f}" if signed else f"{rounded:.1f}"


def format_estimate(estimate: Estimate | Mapping[str, Any] | None, scale: float = 100.0, signed: bool = False) -> str:
    """`61.3 [58.0, 64.1]`: a fraction with its interval, in percent by default; `–` where undefined."""
    estimate = Estimate.from_json(estimate)
    if estimate is None or estimate.value is None:
        return MISSING
    text = format_number(estimate.value * scale, signed)
    if estimate.ci_low is not None and estimate.ci_high is not None:
        low, high = (format_number(bound * scale, signed) for bound in (estimate.ci_low, estimate.ci_high))
        text += f" [{low}, {high}]"
    return text
