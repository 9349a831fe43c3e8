"""What the reviewers' verdicts say about the edits: label-keeping rates with stratified intervals, agreement between
reviewers, and the QC thresholds that would keep a target rate.

Reviewers see a stratified sample of the text-guided edits and answer, per row, "same" (same class, clearly), "not"
(not that class) or "cant_tell". The population is every edit row of the build, reviewed or not.

Row score. For a reviewed row i, y_i = the share of its reviewers who answered "same"; "cant_tell" counts as not
kept, since the claim is "same class, clearly" (2 of 3 reviewers saying "same" give y_i = 2/3).

Stratified ratio estimator. Strata h = (domain, severity, passed_qc); N_h = rows of the population in h, n_h =
reviewed rows in h. Strata with n_h = 0 are left out of every estimate, and coverage = sum of N_h over the reviewed
strata / N. For a subset S of rows, x_i = 1 when row i is in S, else 0:

    X = sum_h (N_h / n_h) sum_{i reviewed in h} x_i         (the estimated number of rows of S)
    R = sum_h (N_h / n_h) sum_{i reviewed in h} x_i y_i / X  (the estimated share of S that keeps its label)
    share = X / sum of N_h over the reviewed strata

Variance by linearisation, with z_i = x_i (y_i - R) for every reviewed row of h and s_h^2 the sample variance
(ddof 1) of z over the reviewed rows of h:

    v = (1 / X^2) sum_h N_h^2 (1 - n_h / N_h) s_h^2 / n_h

A stratum with n_h = 1 has no sample variance: it contributes 0, and when its reviewed row is in S it is counted
in `strata_without_variance` (the interval is then too narrow by an unknown amount).

Interval: the Wilson score interval at 95% (z = 1.959963984540054) with the effective sample size
n_eff = R (1 - R) / v when v > 0, else m = the number of reviewed rows in S:

    centre = (p + z^2 / 2n) / (1 + z^2 / n),  half-width = z sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n),

clipped to [0, 1]. A subset with no reviewed row has no estimate (None).

Agreement, on the rows with at least 2 reviewers. With exactly 2 reviewers on those rows, Cohen's kappa:
p_o = the share of rows with equal answers, p_e = sum over the answers of pA(answer) pB(answer) (each reviewer's
share of that answer over those rows), kappa = (p_o - p_e) / (1 - p_e). With 3 or more, Fleiss' kappa with a
varying number of raters: for row i with n_i raters of which n_ij answered j,
P_i = (sum_j n_ij^2 - n_i) / (n_i (n_i - 1)), P = the mean of P_i, p_j = sum_i n_ij / sum_i n_i,
P_e = sum_j p_j^2, kappa = (P - P_e) / (1 - P_e). Kappa is None when 1 - p_e (1 - P_e) is 0 (every answer the
same) or no row has 2 reviewers.

Calibration. For each QC score s and its pass test (rank: s <= t; the others: s >= t), the candidate thresholds
are the distinct values of s among the reviewed rows; S_t = the rows that pass s at t, whatever their passed_qc.
The calibrated threshold is the loosest candidate (largest t for "<=", smallest for ">=") whose R reaches the
target. When none does, the threshold is None; `best` is the highest R over the candidates (the loosest on ties).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from builder.review.verdicts import ANSWERS

KEPT = "same"
# each QC score and the direction of its pass test: a row passes score s at threshold t when s <= t, or s >= t
SCORES = {"clip_label_rank": "<=", "clip_label_prob": ">=", "clip_edit_direction": ">=", "ssim": ">="}
Z95 = 1.959963984540054

Stratum = tuple[str, int, bool]
Verdicts = Mapping[str, Mapping[str, str]]  # row id -> {reviewer: answer}


@dataclass(frozen=True)
class EditRow:
    """One text-guided edit of the population (the whole build, reviewed or not)."""

    id: str
    domain: str
    severity: int
    passed_qc: bool
    scores: Mapping[str, float]

    @property
    def stratum(self) -> Stratum:
        return (self.domain, self.severity, self.passed_qc)


@dataclass(frozen=True)
class Estimate:
    rate: float
    low: float
    high: float
    reviewed: int
    share: float
    strata_without_variance: int

    def as_dict(self) -> dict[str, Any]:
        return {key: round(value, 4) if isinstance(value, float) else value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class Agreement:
    kind: str | None  # "cohen", "fleiss", or None when no row has 2 reviewers
    kappa: float | None
    rows: int  # the rows with 2 or more reviewers
    reviewers: int  # the distinct reviewers on those rows


@dataclass(frozen=True)
class Threshold:
    score: str
    test: str
    threshold: float | None
    estimate: Estimate | None
    best: Estimate | None
    best_threshold: float | None


@dataclass(frozen=True)
class _Stratum:
    size: int
    rows: tuple[EditRow, ...]  # the reviewed ones
    kept: tuple[float, ...]  # their y


def _everything(row: EditRow) -> bool:
    return True


def wilson(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion `p` observed on `n` (possibly effective, fractional) trials."""
    if n <= 0:
        raise ValueError(f"wilson: n must be positive, not {n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"wilson: p must lie in [0, 1], not {p}")
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def row_scores(rows: Sequence[EditRow], verdicts: Verdicts) -> dict[str, float]:
    """Row id -> y, the share of its reviewers who answered "same", for every row with at least one verdict."""
    known = {row.id for row in rows}
    scores = {}
    for row_id, answers in verdicts.items():
        if row_id not in known:
            raise ValueError(f"verdict for row {row_id!r}, which is not in the population")
        _check_answers(row_id, answers)
        if answers:
            scores[row_id] = sum(answer == KEPT for answer in answers.values()) / len(answers)
    return scores


def _check_answers(row_id: str, answers: Mapping[str, str]) -> None:
    for reviewer, answer in answers.items():
        if answer not in ANSWERS:
            raise ValueError(f"row {row_id!r}, reviewer {reviewer!r}: answer {answer!r} is not one of "
                             f"{', '.join(ANSWERS)}")


def _strata(rows: Sequence[EditRow], verdicts: Verdicts) -> tuple[dict[Stratum, _Stratum], int]:
    """The reviewed strata, and the population size N."""
    ids = Counter(row.id for row in rows)
    repeated = [row_id for row_id, count in ids.items() if count > 1]
    if repeated:
        raise ValueError(f"row ids repeated in the population: {', '.join(sorted(repeated)[:5])}")
    scores = row_scores(rows, verdicts)
    sizes = Counter(row.stratum for row in rows)
    reviewed: dict[Stratum, list[EditRow]] = {}
    for row in rows:
        if row.id in scores:
            reviewed.setdefault(row.stratum, []).append(row)
    strata = {h: _Stratum(sizes[h], tuple(members), tuple(scores[r.id] for r in members))
              for h, members in reviewed.items()}
    return strata, len(rows)


def coverage(rows: Sequence[EditRow], verdicts: Verdicts) -> float:
    """The share of the population in strata that have at least one reviewed row."""
    strata, total = _strata(rows, verdicts)
    return sum(s.size for s in strata.values()) / total if total else 0.0


def estimate(rows: Sequence[EditRow], verdicts: Verdicts,
             subset: Callable[[EditRow], bool] = _everything) -> Estimate | None:
    """The stratified share of the rows of `subset` that keep their label, with its 95% interval."""
    strata, _ = _strata(rows, verdicts)
    return _estimate(strata, subset)


def _estimate(strata: Mapping[Stratum, _Stratum], subset: Callable[[EditRow], bool]) -> Estimate | None:
    members = {h: np.array([bool(subset(row)) for row in s.rows], dtype=float) for h, s in strata.items()}
    reviewed = int(sum(x.sum() for x in members.values()))
    if reviewed == 0:
        return None
    weights = {h: s.size / len(s.rows) for h, s in strata.items()}
    total = float(sum(weights[h] * members[h].sum() for h in strata))
    rate = sum(weights[h] * float(members[h] @ np.array(s.kept)) for h, s in strata.items()) / total
    variance, without = _variance(strata, members, rate)
    variance /= total * total
    n = rate * (1 - rate) / variance if variance > 0 else reviewed
    low, high = wilson(rate, n)
    population = sum(s.size for s in strata.values())
    return Estimate(float(rate), float(low), float(high), reviewed, total / population, without)


def _variance(strata: Mapping[Stratum, _Stratum], members: Mapping[Stratum, np.ndarray],
              rate: float) -> tuple[float, int]:
    """sum_h N_h^2 (1 - n_h/N_h) s_h^2 / n_h, and the strata of the subset with one reviewed row."""
    variance, without = 0.0, 0
    for h, s in strata.items():
        x, n = members[h], len(s.rows)
        if n < 2:
            without += int(x.sum() > 0)
            continue
        variance += s.size ** 2 * (1 - n / s.size) * _sample_variance(x * (np.array(s.kept) - rate)) / n
    return variance, without


def _sample_variance(z: np.ndarray) -> float:
    """ddof 1; exactly 0 for equal values (their rounded mean would leave a residue of order 1e-34)."""
    return 0.0 if np.ptp(z) == 0 else float(np.var(z, ddof=1))


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' answers on the same items (None without items or when 1 - p_e is 0)."""
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: {len(a)} answers against {len(b)}")
    if not a:
        return None
    count = len(a)
    observed = sum(x == y for x, y in zip(a, b)) / count
    share_a, share_b = Counter(a), Counter(b)
    expected = sum(share_a[c] * share_b[c] for c in share_a.keys() | share_b.keys()) / count ** 2
    return _kappa(observed, expected)


def fleiss_kappa(rows: Sequence[Mapping[str, int]]) -> float | None:
    """Fleiss' kappa with a varying number of raters per row (answer -> count); rows with under 2 raters are
    skipped. None without such rows or when 1 - P_e is 0."""
    rated = [row for row in rows if sum(row.values()) >= 2]
    if not rated:
        return None
    agreements = []
    totals: Counter[str] = Counter()
    for row in rated:
        n = sum(row.values())
        agreements.append((sum(c * c for c in row.values()) - n) / (n * (n - 1)))
        totals.update(row)
    raters = sum(totals.values())
    expected = sum((count / raters) ** 2 for count in totals.values())
    return _kappa(sum(agreements) / len(agreements), expected)


def _kappa(observed: float, expected: float) -> float | None:
    if math.isclose(expected, 1.0, rel_tol=0.0, abs_tol=1e-12):
        return None
    return (observed - expected) / (1 - expected)


def agreement(verdicts: Verdicts) -> Agreement:
    """Cohen's kappa when exactly 2 reviewers answered the rows that have 2 or more, Fleiss' kappa when more."""
    for row_id, answers in verdicts.items():
        _check_answers(row_id, answers)
    shared = {row_id: answers for row_id, answers in verdicts.items() if len(answers) >= 2}
    reviewers = sorted({reviewer for answers in shared.values() for reviewer in answers})
    if not shared:
        return Agreement(None, None, 0, len(reviewers))
    if len(reviewers) == 2:
        first, second = reviewers
        kappa = cohen_kappa([a[first] for a in shared.values()], [a[second] for a in shared.values()])
        return Agreement("cohen", kappa, len(shared), 2)
    kappa = fleiss_kappa([Counter(answers.values()) for answers in shared.values()])
    return Agreement("fleiss", kappa, len(shared), len(reviewers))


def passes(row: EditRow, score: str, threshold: float) -> bool:
    """Whether `row` passes `score` at `threshold`, in the score's direction (SCORES)."""
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}: use one of {', '.join(SCORES)}")
    value = row.scores[score]
    return value <= threshold if SCORES[score] == "<=" else value >= threshold


def _candidates(strata: Mapping[Stratum, _Stratum], score: str) -> list[float]:
    """The distinct values of `score` among the reviewed rows, loosest first."""
    values = {float(row.scores[score]) for s in strata.values() for row in s.rows}
    return sorted((v for v in values if not math.isnan(v)), reverse=SCORES[score] == "<=")


def calibrate(rows: Sequence[EditRow], verdicts: Verdicts, target: float = 0.95) -> list[Threshold]:
    """For each score in SCORES, the loosest threshold whose passing rows keep their label at `target` or more."""
    strata, _ = _strata(rows, verdicts)
    return [_calibrate(strata, score, target) for score in SCORES]


def _calibrate(strata: Mapping[Stratum, _Stratum], score: str, target: float) -> Threshold:
    found: tuple[float, Estimate] | None = None
    best: tuple[float, Estimate] | None = None
    for t in _candidates(strata, score):
        result = _estimate(strata, lambda row, t=t: passes(row, score, t))
        if result is None:
            continue
        if found is None and result.rate >= target:
            found = (t, result)
        if best is None or result.rate > best[1].rate:
            best = (t, result)
    return Threshold(score, SCORES[score], found[0] if found else None, found[1] if found else None,
                     best[1] if best else None, best[0] if best else None)


def _estimate_dict(result: Estimate | None) -> dict[str, Any] | None:
    return result.as_dict() if result else None


def _by_qc(strata: Mapping[Stratum, _Stratum], keep: Callable[[EditRow], bool]) -> dict[str, Any]:
    return {"passed": _estimate_dict(_estimate(strata, lambda r: keep(r) and r.passed_qc)),
            "rejected": _estimate_dict(_estimate(strata, lambda r: keep(r) and not r.passed_qc))}


def _threshold_dict(result: Threshold) -> dict[str, Any]:
    fields = result.estimate.as_dict() if result.estimate else dict.fromkeys(Estimate.__dataclass_fields__)
    return {"test": result.test, "threshold": result.threshold, **fields, "best_threshold": result.best_threshold,
            "best_rate": round(result.best.rate, 4) if result.best else None}


def summarize(rows: Sequence[EditRow], verdicts: Verdicts, target: float = 0.95) -> dict[str, Any]:
    """Everything the review says, as one JSON-able dict (see the module's docstring for the formulas)."""
    strata, total = _strata(rows, verdicts)
    agreed = agreement(verdicts)
    answers = Counter(answer for per_row in verdicts.values() for answer in per_row.values())
    domains = sorted({row.domain for row in rows})
    severities = sorted({row.severity for row in rows})
    reviewed_size = sum(s.size for s in strata.values())
    return {
        "reviewers": sorted({reviewer for per_row in verdicts.values() for reviewer in per_row}),
        "reviewed_rows": sum(len(s.rows) for s in strata.values()),
        "verdicts": sum(len(per_row) for per_row in verdicts.values()),
        "population": total,
        "coverage": round(reviewed_size / total, 4) if total else 0.0,
        "answers": {answer: answers[answer] for answer in ANSWERS},
        **_by_qc(strata, _everything),
        "by_domain": {d: _by_qc(strata, lambda r, d=d: r.domain == d) for d in domains},
        "by_severity": {str(k): _by_qc(strata, lambda r, k=k: r.severity == k) for k in severities},
        "agreement": {"kind": agreed.kind, "kappa": None if agreed.kappa is None else round(agreed.kappa, 4),
                      "rows": agreed.rows, "reviewers": agreed.reviewers},
        "calibration": {"target": target,
                        "scores": {t.score: _threshold_dict(t) for t in (_calibrate(strata, s, target)
                                                                          for s in SCORES)}},
    }
