"""Review statistics against figures worked out by hand: the Wilson interval, the stratified ratio estimator and its
linearised variance, Cohen's and Fleiss' kappa, threshold calibration, the summary and its text report.

Throughout, z = 1.959963984540054 and z² = 3.8414588206941254.
"""

from __future__ import annotations

import json

import pytest

from builder.review.stats import (
    Agreement, EditRow, Estimate, agreement, calibrate, cohen_kappa, estimate, fleiss_kappa, passes, summarize, wilson,
)
from builder.review.stats_text import render_text


def close(value: float) -> object:
    return pytest.approx(value, abs=1e-9)


def edit(row_id: str, domain: str = "snow", severity: int = 1, passed: bool = True, ssim: float = 0.1,
         rank: float = 1, prob: float = 0.5, direction: float = 0.2) -> EditRow:
    return EditRow(row_id, domain, severity, passed, {"clip_label_rank": rank, "clip_label_prob": prob,
                                                       "clip_edit_direction": direction, "ssim": ssim})


def stratum(prefix: str, size: int, **fields) -> list[EditRow]:
    return [edit(f"{prefix}{i}", **fields) for i in range(size)]


def alone(answers: dict[str, str]) -> dict[str, dict[str, str]]:
    """One reviewer (alice) per row."""
    return {row_id: {"alice": answer} for row_id, answer in answers.items()}


# --- Wilson ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p, n, low, high", [
    # p = 0.8, n = 10: z²/n = 0.38414588207, 1 + z²/n = 1.38414588207
    #   centre = (0.8 + z²/20) / 1.38414588207 = (0.8 + 0.19207294103) / 1.38414588207 = 0.71674016004
    #   half   = z sqrt(0.8·0.2/10 + z²/400) / 1.38414588207 = z sqrt(0.016 + 0.00960364705) / 1.38414588207
    #          = 1.95996398454 · 0.16001139662 / 1.38414588207 = 0.22657768850
    (0.8, 10, 0.4901624715, 0.9433178485),
    # p = 1, n = 5: half = (z²/10) / (1 + z²/5) = centre - 1/(1 + z²/5): low = 5/(5 + z²) = 5/8.84145882069, high 1
    (1.0, 5, 0.5655175352, 1.0),
    # p = 0, n = 1: high = z²/(1 + z²) = 3.84145882069/4.84145882069 (the mirror of the case above), low 0
    (0.0, 1, 0.0, 0.7934506856),
])
def test_wilson(p, n, low, high):
    assert wilson(p, n) == (close(low), close(high))


@pytest.mark.parametrize("p, n, bound", [
    # unclipped, rounding puts these a hair outside [0, 1]: 1.0000000000000002 and -1.4e-17
    (1.0, 16, 1), (0.0, 21, 0),
])
def test_wilson_is_clipped(p, n, bound):
    assert wilson(p, n)[bound] == float(bound)


@pytest.mark.parametrize("p, n", [(0.5, 0), (0.5, -1), (1.5, 10), (-0.1, 10)])
def test_wilson_refuses_impossible_input(p, n):
    with pytest.raises(ValueError, match="wilson"):
        wilson(p, n)


# --- the stratified estimator ------------------------------------------------------------------------------------

def two_strata() -> list[EditRow]:
    """A = (snow, 1, passed): N = 100, reviewed a0..a3 with y = 1, 1, 1, 0; B = (snow, 1, rejected): N = 20,
    reviewed b0, b1 with y = 1, 0. ssim >= 0.5 picks a0 (y 1), a3 (y 0) and b0 (y 1) among the reviewed rows, and
    a50 (unreviewed, which must not matter)."""
    a = stratum("a", 100)
    b = stratum("b", 20, passed=False)
    for i, value in {0: 0.9, 1: 0.3, 2: 0.3, 3: 0.8, 50: 0.95}.items():
        a[i] = edit(f"a{i}", ssim=value)
    b[0] = edit("b0", passed=False, ssim=0.7)
    b[1] = edit("b1", passed=False, ssim=0.2)
    return a + b


TWO_STRATA_VERDICTS = alone({"a0": "same", "a1": "same", "a2": "same", "a3": "not", "b0": "same", "b1": "not"})


def test_two_strata_everything():
    # weights N_h/n_h: A 100/4 = 25, B 20/2 = 10
    # X = 25·4 + 10·2 = 120, kept = 25·3 + 10·1 = 85, R = 85/120 = 0.708333...
    # z = y - R shifts y by a constant: s_A² = var(1,1,1,0) = (3·0.25² + 0.75²)/3 = 0.25, s_B² = var(1,0) = 0.5
    # v = (100²·(1 - 4/100)·0.25/4 + 20²·(1 - 2/20)·0.5/2) / 120² = (600 + 90)/14400 = 0.0479166667
    # n_eff = R(1-R)/v = (85·35/14400)/(690/14400) = 2975/690 = 4.3115942029
    # Wilson(0.7083333, 4.3115942): 1 + z²/n = 1.89096019707, centre = (0.70833333 + 0.44548009854)/1.89096019707
    #   = 0.61017330436, half = z sqrt(0.20659722/4.31159420 + 0.04967168)/1.89096019707 = 0.32707402834
    result = estimate(two_strata(), TWO_STRATA_VERDICTS)
    assert result.rate == close(85 / 120)
    assert (result.low, result.high) == (close(0.2830992760), close(0.9372473327))
    assert (result.reviewed, result.share, result.strata_without_variance) == (6, close(1.0), 0)


@pytest.mark.parametrize("subset, rate, share, reviewed, low, high", [
    # passed only (A): X = 25·4 = 100, R = 75/100 = 0.75; z_B = 0, so only A: v = 600/100² = 0.06,
    # n_eff = 0.75·0.25/0.06 = 3.125, share = 100/120; Wilson: 1 + z²/n = 2.22926682262,
    # centre = (0.75 + 0.61463341131)/2.22926682262 = 0.61214449408, half = 0.34985106824
    (lambda r: r.passed_qc, 0.75, 100 / 120, 4, 0.2622934258, 0.9619955623),
    # rejected only (B): X = 10·2 = 20, R = 10/20 = 0.5; v = 90/20² = 0.225, n_eff = 0.25/0.225 = 1.1111111,
    # share = 20/120; Wilson(0.5, 1.1111): centre 0.5, half = z sqrt(0.225 + z²/4.938271605)/4.45731293862 = 0.44035485
    (lambda r: not r.passed_qc, 0.5, 20 / 120, 2, 0.0596451469, 0.9403548531),
    # ssim >= 0.5 cuts across both strata: x_A = (1, 0, 0, 1) over y = (1, 1, 1, 0), x_B = (1, 0) over y = (1, 0)
    # X = 25·2 + 10·1 = 60, kept = 25·1 + 10·1 = 35, R = 7/12; share = 60/120
    # z_A = (5/12, 0, 0, -7/12): mean -1/24, s_A² = (74/144 - 4/576)/3 = 73/432
    # z_B = (5/12, 0): s_B² = (5/12)²/2 = 25/288
    # v = (100²·0.96·(73/432)/4 + 20²·0.9·(25/288)/2)/60² = (405.5555556 + 15.625)/3600 = 0.1169945988
    # n_eff = (7/12)(5/12)/v = 0.2430555556/0.1169945988 = 2.0774938170; Wilson: 1 + z²/n = 2.84908315456,
    # centre = (0.58333333 + 0.92454157728)/2.84908315456 = 0.52924917555, half = 0.40083731904
    (lambda r: r.scores["ssim"] >= 0.5, 7 / 12, 0.5, 3, 0.1284118565, 0.9300864946),
])
def test_two_strata_subsets(subset, rate, share, reviewed, low, high):
    result = estimate(two_strata(), TWO_STRATA_VERDICTS, subset)
    assert result == Estimate(close(rate), close(low), close(high), reviewed, close(share), 0)


def test_stratum_with_one_reviewed_row_has_no_variance():
    # C = (snow, 2, passed): N = 10, c0 reviewed (y 1); D = (fog, 1, passed): N = 50, none reviewed (left out)
    # everything: X = 120 + 10·1 = 130, kept = 85 + 10 = 95, R = 95/130 = 0.7307692308
    # v: A and B as before (z shifted by a new R, same variances), C contributes 0: v = 690/130² = 0.0408284024
    # n_eff = (95·35/130²)/(690/130²) = 3325/690 = 4.8188405797; Wilson: 1 + z²/n = 1.79717491317,
    # centre = (0.73076923 + 0.39858745)/1.79717491317 = 0.62840666152, half = 0.31264796108
    rows = two_strata() + stratum("c", 10, severity=2) + stratum("d", 50, domain="fog")
    verdicts = {**TWO_STRATA_VERDICTS, **alone({"c0": "same"})}
    result = estimate(rows, verdicts)
    assert result == Estimate(close(95 / 130), close(0.3157587004), close(0.9410546226), 7, close(1.0), 1)
    # without C's row in the subset nothing is missing: the severity-1 rows give the two-strata figures
    # (X = 120 of the 130 rows of the reviewed strata; D's 50 rows are in no estimate)
    first = estimate(rows, verdicts, lambda r: r.severity == 1)
    assert first == Estimate(close(85 / 120), close(0.2830992760), close(0.9372473327), 6, close(120 / 130), 0)


def test_all_kept_subset_uses_the_reviewed_count():
    # a0, a1, a2 (all y = 1): z = 0 everywhere, v = 0, so Wilson(1, m = 3): low = 3/(3 + z²) = 3/6.84145882069
    result = estimate(two_strata(), TWO_STRATA_VERDICTS, lambda r: r.id in {"a0", "a1", "a2"})
    assert result == Estimate(close(1.0), close(0.4385029682), close(1.0), 3, close(75 / 120), 0)


def test_equal_nonzero_z_has_no_variance():
    # A: N = 30, 3 reviewed, y = 1, 1, 1 (weight 10); B: N = 20, 1 reviewed, y = 0 (weight 20)
    # X = 30 + 20 = 50, kept = 30, R = 0.6; z_A = (0.4, 0.4, 0.4) has variance exactly 0 (a float mean of 0.4s is
    # not exactly 0.4: the residue must not turn into a huge n_eff), B has one row: v = 0, Wilson(0.6, m = 4):
    # 1 + z²/4 = 1.96036470517, centre = (0.6 + 0.48018235259)/1.96036470517 = 0.55101091635,
    # half = z sqrt(0.06 + z²/64)/1.96036470517 = 0.34637224350
    rows = stratum("a", 30) + stratum("b", 20, severity=2)
    result = estimate(rows, alone({"a0": "same", "a1": "same", "a2": "same", "b0": "not"}))
    assert result == Estimate(close(0.6), close(0.2046386729), close(0.8973831599), 4, close(1.0), 1)


def test_no_reviewed_row_in_the_subset_gives_no_estimate():
    assert estimate(two_strata(), TWO_STRATA_VERDICTS, lambda r: r.id == "a50") is None
    assert estimate(two_strata(), {}) is None


@pytest.mark.parametrize("third, rate", [
    # one stratum, equal weights: R = mean of y. r0: 2 of 3 said same (2/3), r1: same (1), r2: the third answer
    ("not", (2 / 3 + 1 + 0) / 3),  # 5/9
    ("cant_tell", (2 / 3 + 1 + 0) / 3),  # "cant_tell" is not kept: 5/9 as well
    ("same", (2 / 3 + 1 + 1) / 3),  # 8/9
])
def test_row_score_is_the_share_of_same(third, rate):
    rows = stratum("r", 10, domain="fog")
    verdicts = {"r0": {"alice": "same", "bob": "same", "carol": "not"}, "r1": {"alice": "same"},
                "r2": {"bob": third}}
    assert estimate(rows, verdicts).rate == close(rate)


def test_as_dict_rounds_to_four_decimals():
    result = estimate(two_strata(), TWO_STRATA_VERDICTS)
    as_dict = result.as_dict()
    assert as_dict == {"rate": 0.7083, "low": 0.2831, "high": 0.9372, "reviewed": 6, "share": 1.0,
                       "strata_without_variance": 0}
    json.dumps(as_dict)
    assert all(type(value) is float for value in (result.rate, result.low, result.high, result.share))  # not numpy's


# --- agreement ---------------------------------------------------------------------------------------------------

# ten rows, two reviewers: (same, same) x5, (same, not) x1, (not, not) x2, (not, cant_tell) x1, (cant_tell,
# cant_tell) x1. p_o = (5 + 2 + 1)/10 = 0.8. A: same 6, not 3, cant_tell 1; B: same 5, not 3, cant_tell 2.
# p_e = 0.6·0.5 + 0.3·0.3 + 0.1·0.2 = 0.41; kappa = (0.8 - 0.41)/(1 - 0.41) = 0.39/0.59 = 0.6610169492
COHEN_PAIRS = ([("same", "same")] * 5 + [("same", "not")] + [("not", "not")] * 2 + [("not", "cant_tell")]
               + [("cant_tell", "cant_tell")])


def test_cohen_kappa_by_hand():
    first, second = zip(*COHEN_PAIRS)
    assert cohen_kappa(first, second) == close(0.39 / 0.59)
    assert cohen_kappa(second, first) == close(0.39 / 0.59)


def test_cohen_kappa_edge_cases():
    assert cohen_kappa(["same", "same"], ["same", "same"]) is None  # p_e = 1
    assert cohen_kappa([], []) is None
    # disagreeing on every row, each answer once per reviewer: p_o = 0, p_e = 2·(1/2·1/2) = 0.5, kappa = -1
    assert cohen_kappa(["same", "not"], ["not", "same"]) == close(-1.0)
    with pytest.raises(ValueError, match="2 answers against 1"):
        cohen_kappa(["same", "not"], ["same"])


# three reviewers, a varying number per row:
#   r1: same 3             P = (9 - 3)/(3·2) = 1
#   r2: same 2, not 1      P = (4 + 1 - 3)/6 = 1/3
#   r3: not 2              P = (4 - 2)/(2·1) = 1
#   r4: same 1, cant 1     P = (1 + 1 - 2)/2 = 0
#   r5: not 1, cant 2      P = (1 + 4 - 3)/6 = 1/3
# P̄ = (1 + 1/3 + 1 + 0 + 1/3)/5 = 8/15; totals: same 6, not 4, cant_tell 3 of 13 answers
# P_e = (36 + 16 + 9)/169 = 61/169; kappa = (8/15 - 61/169)/(108/169) = (437/2535)(169/108) = 437/1620 = 0.2697530864
FLEISS_VERDICTS = {
    "r1": {"alice": "same", "bob": "same", "carol": "same"},
    "r2": {"alice": "same", "bob": "same", "carol": "not"},
    "r3": {"alice": "not", "carol": "not"},
    "r4": {"bob": "same", "carol": "cant_tell"},
    "r5": {"alice": "not", "bob": "cant_tell", "carol": "cant_tell"},
}


def test_fleiss_kappa_by_hand():
    counts = [{"same": 3}, {"same": 2, "not": 1}, {"not": 2}, {"same": 1, "cant_tell": 1},
              {"not": 1, "cant_tell": 2}]
    assert fleiss_kappa(counts) == close(437 / 1620)
    assert fleiss_kappa(counts + [{"same": 1}]) == close(437 / 1620)  # a row with one rater is skipped


def test_fleiss_kappa_classic_example():
    # 10 subjects, 14 raters, 5 categories (Fleiss 1971, as tabulated on Wikipedia's "Fleiss' kappa" page)
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    # sum_j n_ij² per row: 196, 60, 70, 94, 74, 98, 58, 46, 66, 66 (total 828); P_i = (that - 14)/(14·13)
    # P̄ = (828 - 140)/(10·182) = 688/1820 = 0.3780219780
    # column totals 20, 28, 39, 21, 32 of 140: P_e = (400 + 784 + 1521 + 441 + 1024)/19600 = 4170/19600
    # kappa = (688/1820 - 4170/19600)/(1 - 4170/19600) = 0.2099307044
    rows = [{str(j): count for j, count in enumerate(row) if count} for row in table]
    assert fleiss_kappa(rows) == close(0.2099307044)


def test_fleiss_kappa_edge_cases():
    assert fleiss_kappa([{"same": 2}, {"same": 3}]) is None  # P_e = 1
    assert fleiss_kappa([{"same": 1}]) is None  # no row with 2 raters
    assert fleiss_kappa([]) is None


@pytest.mark.parametrize("verdicts, expected", [
    # the Cohen table as verdicts, plus a row only alice answered (it does not count)
    ({**{f"p{i}": {"alice": a, "bob": b} for i, (a, b) in enumerate(COHEN_PAIRS)}, "solo": {"alice": "not"}},
     Agreement("cohen", close(0.39 / 0.59), 10, 2)),
    ({**FLEISS_VERDICTS, "solo": {"dave": "same"}}, Agreement("fleiss", close(437 / 1620), 5, 3)),
    ({"x": {"alice": "same", "bob": "same"}, "y": {"alice": "not", "bob": "not"}}, Agreement("cohen", 1.0, 2, 2)),
    ({"x": {"alice": "same", "bob": "same"}, "y": {"alice": "same", "bob": "same"}},
     Agreement("cohen", None, 2, 2)),
    ({"x": {"alice": "same"}, "y": {"bob": "not"}}, Agreement(None, None, 0, 0)),
    ({}, Agreement(None, None, 0, 0)),
])
def test_agreement(verdicts, expected):
    assert agreement(verdicts) == expected


# --- calibration -------------------------------------------------------------------------------------------------

# id  QC        ssim  rank  prob  answer
CALIBRATION_ROWS = [
    ("r0", True, 0.9, 1, 0.9, "same"),
    ("r1", True, 0.8, 1, 0.85, "same"),
    ("r2", False, 0.7, 2, 0.8, "same"),
    ("r3", True, 0.6, 2, 0.7, "same"),
    ("r4", True, 0.5, 5, 0.99, "not"),
    ("r5", False, 0.45, 3, 0.6, "cant_tell"),
    ("r6", True, 0.4, 1, 0.5, "same"),
    ("r7", True, 0.35, 4, 0.4, "same"),
    ("r8", False, 0.3, 2, 0.3, "same"),
    ("r9", True, 0.2, 9, 0.2, "not"),
]


def calibration_population() -> tuple[list[EditRow], dict[str, dict[str, str]]]:
    """Passed: 7 reviewed of N = 14; rejected: 3 reviewed of N = 6. Both weights are 2, so R is the plain mean of y
    over the reviewed rows of S_t and share = (rows of S_t reviewed)/10. The unreviewed rows have ssim 0.55, which
    must not be a candidate (it would be looser than 0.6 at the same rate)."""
    rows = [edit(i, passed=qc, ssim=s, rank=k, prob=p, direction=0.1) for i, qc, s, k, p, _ in CALIBRATION_ROWS]
    rows += [edit(f"u{i}", passed=i < 7, ssim=0.55, rank=3, prob=0.95, direction=0.1) for i in range(10)]
    return rows, alone({i: answer for i, *_, answer in CALIBRATION_ROWS})


def threshold_of(score: str, target: float):
    rows, verdicts = calibration_population()
    return {t.score: t for t in calibrate(rows, verdicts, target)}[score]


# ssim >= t, loosest (smallest) first ... here from the strictest: 0.9: 1/1, 0.8: 2/2, 0.7: 3/3, 0.6: 4/4,
# 0.5: 4/5, 0.45: 4/6, 0.4: 5/7, 0.35: 6/8, 0.3: 7/9, 0.2: 7/10
# rank <= t: 1: {r0, r1, r6} 3/3, 2: + r2, r3, r8 6/6, 3: + r5 6/7, 4: + r7 7/8, 5: + r4 7/9, 9: + r9 7/10
@pytest.mark.parametrize("score, target, threshold, rate, reviewed, share, low", [
    # the rate is 1 with v = 0: Wilson(1, m) has low = m/(m + z²)
    ("ssim", 0.95, 0.6, 1.0, 4, 0.4, 0.5101091635),  # 4/(4 + z²)
    ("clip_label_rank", 0.95, 2, 1.0, 6, 0.6, 0.6096657121),  # 6/(6 + z²)
    # the loosest, not the first to fail: 0.5 (4/5) passes, 0.45 and 0.4 fail, 0.35 (6/8 = 0.75) and 0.3 pass
    ("ssim", 0.75, 0.3, 7 / 9, 9, 0.9, None),
    ("clip_label_rank", 0.86, 4, 7 / 8, 8, 0.8, None),  # 3 gives 6/7 = 0.857, 5 gives 7/9
    ("ssim", 0.7, 0.2, 0.7, 10, 1.0, None),  # reaching the target exactly is enough: 7/10 at 0.2
])
def test_calibrated_threshold(score, target, threshold, rate, reviewed, share, low):
    result = threshold_of(score, target)
    assert (result.score, result.test) == (score, ">=" if score == "ssim" else "<=")
    assert result.threshold == threshold
    assert (result.estimate.rate, result.estimate.reviewed, result.estimate.share) == (close(rate), reviewed,
                                                                                       close(share))
    if low is not None:
        assert (result.estimate.low, result.estimate.high) == (close(low), close(1.0))


def test_unreachable_target_reports_the_best_rate():
    # prob >= t from the strictest: 0.99: r4 0/1, 0.9: 1/2, 0.85: 2/3, 0.8: 3/4, 0.7: 4/5, 0.6: 4/6, 0.5: 5/7,
    # 0.4: 6/8, 0.3: 7/9, 0.2: 7/10; the best is 4/5 at 0.7 (the unreviewed rows' 0.95 is no candidate)
    result = threshold_of("clip_label_prob", 0.95)
    assert (result.threshold, result.estimate) == (None, None)
    assert (result.best_threshold, result.best.rate, result.best.reviewed) == (0.7, close(0.8), 5)
    # every row has direction 0.1: one candidate, all ten rows, 7/10
    direction = threshold_of("clip_edit_direction", 0.95)
    assert (direction.threshold, direction.best_threshold, direction.best.rate) == (None, 0.1, close(0.7))


def test_calibration_covers_every_score_in_order():
    rows, verdicts = calibration_population()
    assert [t.score for t in calibrate(rows, verdicts)] == ["clip_label_rank", "clip_label_prob",
                                                             "clip_edit_direction", "ssim"]


@pytest.mark.parametrize("score, value, threshold, expected", [
    ("clip_label_rank", 3, 3, True), ("clip_label_rank", 3, 2, False), ("clip_label_rank", 2, 3, True),
    ("ssim", 0.5, 0.5, True), ("ssim", 0.4, 0.5, False), ("ssim", 0.6, 0.5, True),
    ("clip_label_prob", 0.4, 0.5, False), ("clip_edit_direction", 0.6, 0.5, True),
])
def test_passes(score, value, threshold, expected):
    row = EditRow("x", "snow", 1, True, {"clip_label_rank": 1, "clip_label_prob": 0.5, "clip_edit_direction": 0.2,
                                         "ssim": 0.5, score: value})
    assert passes(row, score, threshold) is expected


def test_passes_refuses_an_unknown_score():
    with pytest.raises(ValueError, match="'lpips'"):
        passes(edit("x"), "lpips", 0.5)


# --- errors ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("run", [estimate, calibrate, summarize], ids=["estimate", "calibrate", "summarize"])
def test_unknown_answer(run):
    verdicts = {**TWO_STRATA_VERDICTS, "a1": {"alice": "same", "bob": "maybe"}}
    with pytest.raises(ValueError, match=r"row 'a1', reviewer 'bob': answer 'maybe' is not one of same, not, "
                                         r"cant_tell"):
        run(two_strata(), verdicts)


def test_unknown_answer_in_agreement():
    with pytest.raises(ValueError, match=r"row 'x', reviewer 'carol': answer 'Same'"):
        agreement({"x": {"alice": "same", "carol": "Same"}})


@pytest.mark.parametrize("run", [estimate, calibrate, summarize], ids=["estimate", "calibrate", "summarize"])
def test_unknown_row(run):
    with pytest.raises(ValueError, match=r"verdict for row 'zz9', which is not in the population"):
        run(two_strata(), {**TWO_STRATA_VERDICTS, "zz9": {"alice": "same"}})


def test_repeated_row_id():
    with pytest.raises(ValueError, match="row ids repeated in the population: a0"):
        estimate(two_strata() + [edit("a0")], TWO_STRATA_VERDICTS)


# --- summary -----------------------------------------------------------------------------------------------------

def summary_case() -> tuple[list[EditRow], dict[str, dict[str, str]]]:
    """Strata (N, reviewed y):
        fog, 1, passed    N 4: f0 (alice, bob: same) 1, f1 (alice: same) 1
        fog, 1, rejected  N 2: g0 (alice: not) 0
        fog, 2, passed    N 2: none
        snow, 10, passed  N 4: s0 (alice: same) 1, s1 (alice: not, bob: cant_tell) 0
        snow, 10, rejected N 2: none
    N = 14; the reviewed strata hold 4 + 2 + 4 = 10; every weight N_h/n_h is 2."""
    rows = [edit("f0", "fog", ssim=0.9), edit("f1", "fog", ssim=0.8), edit("f2", "fog"), edit("f3", "fog"),
            edit("g0", "fog", passed=False, ssim=0.3), edit("g1", "fog", passed=False),
            *stratum("h", 2, domain="fog", severity=2),
            edit("s0", severity=10, ssim=0.7), edit("s1", severity=10, ssim=0.5), edit("s2", severity=10),
            edit("s3", severity=10), *stratum("t", 2, severity=10, passed=False)]
    verdicts = {"f0": {"alice": "same", "bob": "same"}, "f1": {"alice": "same"}, "g0": {"alice": "not"},
                "s0": {"alice": "same"}, "s1": {"alice": "not", "bob": "cant_tell"}}
    return rows, verdicts


# passed: X = 2·2 + 2·2 = 8, kept = 2·2 + 2·1 = 6, R = 0.75, share 8/10; z_fog = (0.25, 0.25): s² = 0;
#   z_snow = (0.25, -0.75): s² = 0.5; v = 4²·(1 - 2/4)·0.5/2 / 8² = 2/64 = 0.03125; n_eff = 0.1875/0.03125 = 6
#   Wilson(0.75, 6): 1 + z²/6 = 1.64024313678, centre = (0.75 + 0.32012156839)/1.64024313678 = 0.65241642802,
#   half = z sqrt(0.03125 + z²/144)/1.64024313678 = 0.28759386729 -> [0.3648, 0.9400]
PASSED = {"rate": 0.75, "low": 0.3648, "high": 0.94, "reviewed": 4, "share": 0.8, "strata_without_variance": 0}
# rejected: g0 alone, y 0, its stratum has n = 1: v = 0, Wilson(0, 1) = [0, z²/(1 + z²)] = [0, 0.7935]; share 2/10
REJECTED = {"rate": 0.0, "low": 0.0, "high": 0.7935, "reviewed": 1, "share": 0.2, "strata_without_variance": 1}
# fog passed: f0, f1 (y 1, 1): v = 0, Wilson(1, 2) low = 2/(2 + z²) = 0.3424; X = 4, share 0.4
FOG_PASSED = {"rate": 1.0, "low": 0.3424, "high": 1.0, "reviewed": 2, "share": 0.4, "strata_without_variance": 0}
# snow passed: s0, s1 (1, 0): R = 0.5, X = 4, v = 16·0.5·0.5/2 / 16 = 0.125, n_eff = 0.25/0.125 = 2
#   Wilson(0.5, 2): centre 0.5, half = z sqrt(0.125 + z²/16)/(1 + z²/2) = 0.40546879426 -> [0.0945, 0.9055]
SNOW_PASSED = {"rate": 0.5, "low": 0.0945, "high": 0.9055, "reviewed": 2, "share": 0.4, "strata_without_variance": 0}


def test_summarize():
    rows, verdicts = summary_case()
    summary = summarize(rows, verdicts)
    assert list(summary) == ["reviewers", "reviewed_rows", "verdicts", "population", "coverage", "answers", "passed",
                             "rejected", "by_domain", "by_severity", "agreement", "calibration"]
    assert summary["reviewers"] == ["alice", "bob"]
    assert (summary["reviewed_rows"], summary["verdicts"], summary["population"]) == (5, 7, 14)
    assert summary["coverage"] == 0.7143  # 10/14
    assert summary["answers"] == {"same": 4, "not": 2, "cant_tell": 1}
    assert (summary["passed"], summary["rejected"]) == (PASSED, REJECTED)
    assert summary["by_domain"] == {"fog": {"passed": FOG_PASSED, "rejected": REJECTED},
                                    "snow": {"passed": SNOW_PASSED, "rejected": None}}
    assert list(summary["by_severity"]) == ["1", "2", "10"]
    assert summary["by_severity"] == {"1": {"passed": FOG_PASSED, "rejected": REJECTED},
                                      "2": {"passed": None, "rejected": None},
                                      "10": {"passed": SNOW_PASSED, "rejected": None}}
    # f0 (same, same) and s1 (not, cant_tell): p_o = 1/2, p_e = 0.5·0.5 (same) = 0.25, kappa = 0.25/0.75
    assert summary["agreement"] == {"kind": "cohen", "kappa": 0.3333, "rows": 2, "reviewers": 2}
    json.dumps(summary)


def test_summarize_calibration():
    rows, verdicts = summary_case()
    calibration = summarize(rows, verdicts)["calibration"]
    assert calibration["target"] == 0.95
    # ssim >= t: 0.9 {f0} 1, 0.8 {f0, f1} 1, 0.7 + s0: 3/3, 0.5 + s1: 3/4, 0.3 + g0: 3/5. Loosest at 0.95: 0.7,
    # X = 2·3 = 6 of 10, Wilson(1, 3) low = 3/(3 + z²) = 0.4385; the best rate, 1, is first reached at 0.7 too
    assert calibration["scores"]["ssim"] == {
        "test": ">=", "threshold": 0.7, "rate": 1.0, "low": 0.4385, "high": 1.0, "reviewed": 3, "share": 0.6,
        "strata_without_variance": 0, "best_threshold": 0.7, "best_rate": 1.0}
    # every row has rank 1: one candidate, every reviewed row, 3/5
    assert calibration["scores"]["clip_label_rank"] == {
        "test": "<=", "threshold": None, "rate": None, "low": None, "high": None, "reviewed": None, "share": None,
        "strata_without_variance": None, "best_threshold": 1, "best_rate": 0.6}


def test_render_text():
    rows, verdicts = summary_case()
    text = render_text(summarize(rows, verdicts))
    lines = text.splitlines()
    assert "  passed QC:   75.0% [36.5, 94.0] (4 reviewed)" in lines
    assert "  rejected QC: 0.0% [0.0, 79.3] (1 reviewed)" in lines
    assert ("  (strata with a single reviewed row add no variance, so the intervals are too narrow: passed 0, "
            "rejected 1)") in lines
    assert any(line.startswith("fog ") and "100.0% [34.2, 100.0] (2 reviewed)" in line for line in lines)
    assert any(line.startswith("10 ") and "50.0% [" in line and ", 90.5] (2 reviewed)" in line for line in lines)
    assert "Agreement: Cohen's kappa 0.333 over 2 rows, 2 reviewers" in lines
    assert "  ssim >= 0.7 keeps 60.0% of edits at 100.0% [43.9, 100.0] (3 reviewed)" in lines
    assert "  clip_label_rank: no threshold reaches 95.0% (best 60.0% at <= 1)" in lines
    assert any(line.startswith("Coverage: the reviewed strata hold 71.4% of the edits") for line in lines)


RENDERED = """\
Review: 5 of 14 edits reviewed, 7 verdicts by 2 reviewers (alice, bob); answers: same 4, not 2, cant_tell 1

Label kept (same class, clearly), stratified estimate with 95% interval:
  passed QC:   75.0% [36.5, 94.0] (4 reviewed)
  rejected QC: 0.0% [0.0, 79.3] (1 reviewed)
  (strata with a single reviewed row add no variance, so the intervals are too narrow: passed 0, rejected 1)

domain  passed QC                             rejected QC
fog     100.0% [34.2, 100.0] (2 reviewed)     0.0% [0.0, 79.3] (1 reviewed)
snow    50.0% [9.4, 90.5] (2 reviewed)        -

severity  passed QC                             rejected QC
1         100.0% [34.2, 100.0] (2 reviewed)     0.0% [0.0, 79.3] (1 reviewed)
2         -                                     -
10        50.0% [9.4, 90.5] (2 reviewed)        -

Agreement: Cohen's kappa 0.333 over 2 rows, 2 reviewers

QC thresholds keeping the label at 95.0% or more (loosest):
  clip_label_rank: no threshold reaches 95.0% (best 60.0% at <= 1)
  clip_label_prob: no threshold reaches 95.0% (best 60.0% at >= 0.5)
  clip_edit_direction: no threshold reaches 95.0% (best 60.0% at >= 0.2)
  ssim >= 0.7 keeps 60.0% of edits at 100.0% [43.9, 100.0] (3 reviewed)

Coverage: the reviewed strata hold 71.4% of the edits (unreviewed strata are left out of every estimate)
"""


def test_render_text_in_full():
    """The whole report, every figure of which the tests above check by hand (snow's lower bound 0.0945 prints as
    9.4: the summary's 4 decimals are rounded again, at most 0.1 point off)."""
    rows, verdicts = summary_case()
    assert render_text(summarize(rows, verdicts)) == RENDERED


def test_render_text_without_agreement_or_reviewers():
    rows = [edit("a"), edit("b")]
    summary = summarize(rows, {"a": {"alice": "same"}})
    assert "Agreement: no row has 2 reviewers" in render_text(summary).splitlines()
    fleiss = summarize(rows, {"a": {"x": "same", "y": "same", "z": "same"}})
    assert fleiss["agreement"] == {"kind": "fleiss", "kappa": None, "rows": 1, "reviewers": 3}
    assert "Agreement: Fleiss' kappa undefined (every answer the same) over 1 rows, 3 reviewers" in render_text(fleiss)
    empty = summarize([], {})
    assert (empty["population"], empty["coverage"], empty["reviewers"]) == (0, 0.0, [])
    assert render_text(empty).startswith("Review: 0 of 0 edits reviewed, 0 verdicts by 0 reviewers (none); answers: "
                                         "same 0, not 0, cant_tell 0\n")


def test_strata_without_variance_are_counted_one_by_one():
    # three strata of 5 rows with one reviewed row each, and one with two: three strata add no variance
    rows = [*stratum("a", 5, domain="fog"), *stratum("b", 5, domain="snow"), *stratum("c", 5, domain="rain"),
            *stratum("d", 5, domain="haze")]
    verdicts = alone({"a0": "same", "b0": "same", "c0": "not", "d0": "same", "d1": "not"})
    assert estimate(rows, verdicts).strata_without_variance == 3


def test_calibrate_defaults_to_95_percent():
    rows, verdicts = calibration_population()
    assert calibrate(rows, verdicts) == calibrate(rows, verdicts, 0.95)
    assert calibrate(rows, verdicts) != calibrate(rows, verdicts, 0.5)


def test_best_rate_keeps_four_decimals():
    rows = [edit("a", ssim=0.5), edit("b", ssim=0.5), edit("c", ssim=0.5)]
    summary = summarize(rows, alone({"a": "same", "b": "same", "c": "not"}))
    assert summary["calibration"]["scores"]["ssim"]["best_rate"] == 0.6667  # 2/3


def test_error_messages_list_every_name():
    with pytest.raises(ValueError, match=r"row ids repeated in the population: a, b, c, d, e$"):  # the first five
        estimate([edit(i) for i in "abcdef" for _ in range(2)], {})
    with pytest.raises(ValueError, match=r"use one of clip_label_rank, clip_label_prob, clip_edit_direction, ssim$"):
        passes(edit("a"), "lpips", 0.5)
