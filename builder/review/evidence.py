"""What a folder's reviews say, in the forms the tools publish: the summary `release.json` carries, the card's
sentence, and what a recipe's QC thresholds would cost (for `plan`).

The population is the folder's text-guided edits (originals and ImageNet-C rows are not reviewed); every verdict
must name one of them.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from builder.review.folder import is_text_guided, open_folder, read_metadata
from builder.review.stats import SCORES, EditRow, estimate, summarize
from builder.review.stats_text import rate_text
from builder.review.verdicts import load_reviews


def edit_rows(table: Any) -> list[EditRow]:
    """The text-guided edits of a metadata table (folder.read_metadata) as the statistics' population."""
    return [EditRow(row["id"], row["domain"], int(row["severity"]), bool(row["passed_qc"]),
                    {score: float(row[score]) for score in SCORES})
            for row in table.to_pylist() if is_text_guided(row["domain"])]


def read_population(root: str | Path) -> tuple[list[EditRow], dict[str, dict[str, str]]]:
    """The folder's edits and every reviewer's latest verdicts on them (a verdict on any other row is refused)."""
    rows = edit_rows(read_metadata(open_folder(root)))
    return rows, load_reviews(Path(root), known_ids={row.id for row in rows})


def folder_review(root: str | Path, target: float = 0.95,
                  hard_ids: Collection[str] | None = None) -> dict[str, Any] | None:
    """`summarize` of the folder's verdicts (plus the rate on the hard subset, given its ids); None when nobody
    has reviewed it."""
    rows, verdicts = read_population(root)
    if not verdicts:
        return None
    summary = summarize(rows, verdicts, target)
    if hard_ids is not None:
        hard = set(hard_ids)
        result = estimate(rows, verdicts, lambda row: row.id in hard)
        summary["hard"] = result.as_dict() if result else None
    return summary


def kappa_text(review: dict[str, Any]) -> str:
    agreement = review["agreement"]
    if agreement["kind"] is None:
        return "agreement not measured (no row had two reviewers)"
    name = "Cohen's" if agreement["kind"] == "cohen" else "Fleiss'"
    if agreement["kappa"] is None:
        return f"{name} κ undefined (every answer the same) on {agreement['rows']} rows"
    return f"{name} κ = {agreement['kappa']:.2f} on the {agreement['rows']} rows reviewed twice or more"


def card_sentence(review: dict[str, Any] | None) -> str:
    """The card's claim about labels, from release.json's `review` (None: no review was done, said plainly)."""
    if review is None:
        return ("No human review of these edits has been done: the share of edits that still show their class is not "
                "known, and part of any accuracy drop may be label noise. `python -m builder review` and "
                "`review-stats` measure it.")
    people = len(review["reviewers"])
    judged = f"judged by {people} reviewer{'s' * (people != 1)} on {review['reviewed_rows']} rows"
    if review["passed"] is None:
        passed = f"No edit that passed QC was reviewed ({judged})"
    else:
        passed = f"Of the edits that passed QC, {rate_text(review['passed'])} keep their label, {judged}"
    rejected = (f"; of those QC rejected, {rate_text(review['rejected'])}" if review["rejected"] else "")
    return f"{passed}, {kappa_text(review)}{rejected}."


def threshold_cost(root: str | Path, label_rank_max: int, edit_direction_min: float,
                   ssim_min: float) -> tuple[Any, int] | None:
    """What QC thresholds would keep, judged on the folder's reviews: (the estimate for the edits passing all
    three, the number of reviewed rows); None when the folder has no verdicts."""
    rows, verdicts = read_population(root)
    if not verdicts:
        return None
    result = estimate(rows, verdicts, lambda row: row.scores["clip_label_rank"] <= label_rank_max
                      and row.scores["clip_edit_direction"] >= edit_direction_min and row.scores["ssim"] >= ssim_min)
    return result, len(verdicts)
