"""The review sample: stratified by domain x severity x passed_qc, drawn with a seed, the same for every reviewer.

Allocation is equal across strata (round-robin, one row at a time, in the strata's sorted order, skipping a
stratum once all its rows are taken): rejected rows and rare severities get as many reviews as common ones, which
is what per-stratum rates need; the stratified estimator in `stats` weights them back by stratum size. Within a
stratum, rows are taken in the order of sha256("<seed>:<row id>"), so the draw depends on the rows, the size and
the seed only (not on file order), and a larger sample contains every row of a smaller one. Reviewers see the
sample in that hash order too: strata interleave, and a reviewer who stops early has reviewed a random subsample
of every stratum.

The drawn sample is kept in `reviews/sample.json` (seed, size, stratum sizes, ids in order): a later session reuses
it, and a different `--sample` or `--seed` redraws it (a larger size with the same seed keeps every row already
drawn; `--sample` alone keeps the recorded seed).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagenet_textcorrupt.atomic import atomic_write_text

from builder.review.folder import ReviewError

SAMPLE_FILE = "sample.json"  # in the reviews folder
DEFAULT_SIZE = 200
DEFAULT_SEED = 0

Stratum = tuple[str, int, bool]  # domain, severity, passed_qc


@dataclass(frozen=True)
class Sample:
    seed: int
    size: int
    ids: tuple[str, ...]  # in the order reviewers see them
    strata: dict[Stratum, tuple[int, int]]  # stratum -> (rows in the population, rows drawn)

    def as_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "size": self.size, "ids": list(self.ids),
                "strata": [{"domain": d, "severity": s, "passed_qc": p, "rows": n, "drawn": k}
                           for (d, s, p), (n, k) in sorted(self.strata.items())]}


def sample_key(seed: int, row_id: str) -> str:
    return hashlib.sha256(f"{seed}:{row_id}".encode()).hexdigest()


def allocate(sizes: Mapping[Stratum, int], size: int) -> dict[Stratum, int]:
    """Rows to draw per stratum: equal shares, capped by each stratum's size, the remainder to the first strata
    in sorted order; a larger `size` never draws fewer rows from any stratum."""
    drawn = {stratum: 0 for stratum in sizes}
    order = sorted(sizes)
    left = min(size, sum(sizes.values()))
    while left:
        for stratum in order:
            if left and drawn[stratum] < sizes[stratum]:
                drawn[stratum] += 1
                left -= 1
    return drawn


def draw(rows: Sequence[tuple[str, Stratum]], size: int, seed: int = DEFAULT_SEED) -> Sample:
    """The sample of `size` rows from `rows` ((row id, stratum) pairs of the edits to review)."""
    if size < 1:
        raise ReviewError(f"--sample must be at least 1 (got {size})")
    by_stratum: dict[Stratum, list[str]] = defaultdict(list)
    for row_id, stratum in rows:
        by_stratum[stratum].append(row_id)
    if not by_stratum:
        raise ReviewError("there are no text-guided edits to review (only originals or ImageNet-C rows)")
    sizes = {stratum: len(ids) for stratum, ids in by_stratum.items()}
    counts = allocate(sizes, size)
    chosen = [row_id for stratum, ids in by_stratum.items()
              for row_id in sorted(ids, key=lambda i: sample_key(seed, i))[:counts[stratum]]]
    chosen.sort(key=lambda i: sample_key(seed, i))
    return Sample(seed, size, tuple(chosen), {s: (sizes[s], counts[s]) for s in sizes})


def load_or_draw(reviews: Path, rows: Sequence[tuple[str, Stratum]], size: int | None,
                 seed: int | None) -> tuple[Sample, str]:
    """The sample kept in `reviews`, or a new one when there is none or `size`/`seed` differ from it (then
    written atomically); with a note saying which."""
    path = reviews / SAMPLE_FILE
    stored = json.loads(path.read_text()) if path.is_file() else None
    if stored is not None and size in (None, stored["size"]) and seed in (None, stored["seed"]):
        sample = draw(rows, stored["size"], stored["seed"])
        if list(sample.ids) != stored["ids"]:
            raise ReviewError(f"{path}: the folder's rows no longer give the sample recorded there (the build "
                              "changed since); move the reviews folder away to start a new review")
        return sample, f"the sample in {path}: {len(sample.ids)} rows, seed {sample.seed}"
    if seed is None:  # a new size alone keeps the recorded seed, so the larger sample holds the smaller one
        seed = stored["seed"] if stored is not None else DEFAULT_SEED
    sample = draw(rows, size or DEFAULT_SIZE, seed)
    atomic_write_text(path, json.dumps(sample.as_json(), indent=1) + "\n")
    if stored is None:
        return sample, f"drew a sample of {len(sample.ids)} rows (seed {sample.seed}) into {path}"
    kept = len(set(stored["ids"]) & set(sample.ids))
    return sample, (f"redrew the sample in {path}: {len(sample.ids)} rows, seed {sample.seed} (was "
                    f"{len(stored['ids'])} rows, seed {stored['seed']}; {kept} of them are still in it)")
