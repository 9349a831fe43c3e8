"""Which rows an audit reruns, and what a sample of that size can catch.

The draw is stratified by (group, domain, severity): each stratum gives rows in proportion to its size (the
fractional parts given out at random in proportion to themselves), drawn without replacement, so every row has the
same chance n/N of being checked wherever a forger puts the forged rows. The seed comes from the operating system unless given, and
is recorded: the same seed draws the same rows, and a submitter cannot know the seed in advance.

A forgery of F rows among N is caught when the draw of n rows meets at least one of them:
P = 1 - C(N - F, n) / C(N, n) (hypergeometric). For a population much larger than the sample this is at least
1 - (1 - F/N)^n, so `rows_needed(share, probability)` without a population is the sample size that works for any
release size: 194 rows catch a 2% forgery with probability 0.98 (200 rows: 0.982).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

STRATUM_FIELDS = ("group", "domain", "severity")
# (forged share, probability) pairs the audit record and the docs tabulate
DETECTION_SHARES = (0.001, 0.005, 0.01, 0.02, 0.05)
DETECTION_PROBABILITY = 0.98
EXACT_POPULATION = 20_000  # up to here detection probabilities are computed with exact binomial coefficients


def os_seed() -> int:
    """A seed from the operating system's randomness: not predictable by whoever wrote the results."""
    return secrets.randbits(63)


def strata(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, int], list[str]]:
    """Row ids per (group, domain, severity), each list sorted, the strata in sorted order."""
    groups: dict[tuple[str, str, int], list[str]] = {}
    for record in records:
        key = (str(record["group"]), str(record["domain"]), int(record["severity"]))
        groups.setdefault(key, []).append(str(record["id"]))
    return {key: sorted(groups[key]) for key in sorted(groups)}


def allocate(sizes: list[int], rows: int, rng: Any) -> list[int]:
    """Rows per stratum summing to min(rows, sum(sizes)): each stratum gets the whole part of its proportional
    share, and one more with probability equal to the fractional part (systematic sampling over the strata in a
    seeded random order, in integers so no rounding can lose a row), so every stratum's expected count is exactly
    its share and every row is drawn with probability rows / sum(sizes)."""
    total = sum(sizes)
    rows = min(rows, total)
    if rows <= 0:
        return [0] * len(sizes)
    counts = [rows * size // total for size in sizes]
    remainders = [rows * size % total for size in sizes]  # fractional parts, in units of 1 / total
    start = int(rng.integers(total))
    cumulative = 0
    for i in rng.permutation(len(sizes)):
        # an extra row where a point start + k * total falls in [cumulative, cumulative + remainder)
        counts[i] += (cumulative + remainders[i] - start) // total - (cumulative - start) // total
        cumulative += remainders[i]
    return counts


def draw_rows(records: Iterable[Mapping[str, Any]], rows: int, seed: int) -> list[str]:
    """The ids of `rows` rows (all of them when there are fewer), stratified and seeded, sorted."""
    import numpy as np

    if rows < 1:
        raise ValueError(f"an audit draws at least 1 row, got {rows}")
    rng = np.random.default_rng(seed)
    by_stratum = strata(records)
    members = list(by_stratum.values())
    counts = allocate([len(ids) for ids in members], rows, rng)
    drawn = []
    for ids, count in zip(members, counts):
        if count:
            drawn += [ids[i] for i in rng.choice(len(ids), size=count, replace=False)]
    return sorted(drawn)


def detection_probability(population: int, forged: int, drawn: int) -> float:
    """The chance that `drawn` rows drawn without replacement from `population` meet at least one of `forged`."""
    if not 0 <= forged <= population or not 0 <= drawn <= population:
        raise ValueError(f"need 0 <= forged ({forged}) and drawn ({drawn}) <= population ({population})")
    if forged == 0 or drawn == 0:
        return 0.0
    if drawn > population - forged:
        return 1.0
    if population <= EXACT_POPULATION:  # exact integers, one rounding: the table's 0.98 is not a float's 0.9799999
        total = math.comb(population, drawn)
        return (total - math.comb(population - forged, drawn)) / total
    missed = 1.0  # the chance that every drawn row is clean, one draw at a time
    for i in range(drawn):
        missed *= (population - forged - i) / (population - i)
        if missed < 1e-18:  # caught for certain, to a float's precision
            return 1.0
    return 1.0 - missed


def rows_needed(share: float, probability: float = DETECTION_PROBABILITY, population: int | None = None) -> int:
    """The fewest rows that catch a forgery of `share` of the rows with at least `probability`: for a given
    `population` (at least one forged row), or for any population when None (the with-replacement bound)."""
    if not 0 < share <= 1 or not 0 < probability < 1:
        raise ValueError(f"share must be in (0, 1] and probability in (0, 1), got {share} and {probability}")
    if population is None:
        if share == 1:
            return 1
        return math.ceil(math.log(1 - probability) / math.log(1 - share))
    forged = max(1, math.floor(share * population))
    low, high = 1, population
    while low < high:  # detection_probability grows with the rows drawn
        middle = (low + high) // 2
        if detection_probability(population, forged, middle) >= probability:
            high = middle
        else:
            low = middle + 1
    return low


def detection_table(population: int, drawn: int, shares: Iterable[float] = DETECTION_SHARES,
                    probability: float = DETECTION_PROBABILITY) -> list[dict[str, Any]]:
    """Per forged share: the forged rows in this population, the chance this audit caught them, and the rows an
    audit needs to catch them with `probability` (here, and in a release of any size)."""
    table = []
    for share in shares:
        forged = max(1, math.floor(share * population)) if population else 0
        table.append({"share": share, "forged_rows": forged,
                      "probability_caught": round(detection_probability(population, forged, min(drawn, population)), 4),
                      "rows_needed": rows_needed(share, probability, population),
                      "rows_needed_any_size": rows_needed(share, probability)})
    return table
