"""The review's figures as text: `review-stats`'s report of `summarize`'s dict (`builder.review.stats`) and the
rates that the card and the command line print."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def rate_text(result: Mapping[str, Any]) -> str:
    """"93.1% [89.0, 95.8]" from an estimate's dict."""
    return f"{_percent(result['rate'])} [{100 * result['low']:.1f}, {100 * result['high']:.1f}]"


def _rate(result: Mapping[str, Any] | None) -> str:
    """As "93.1% [89.0, 95.8] (120 reviewed)", or "-" without reviewed rows."""
    if result is None:
        return "-"
    return f"{rate_text(result)} ({result['reviewed']} reviewed)"


def _table(title: str, entries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    width = max([len(title)] + [len(key) for key in entries])
    lines = [f"{title:<{width}}  {'passed QC':<36}  rejected QC"]
    for key, pair in entries.items():
        lines.append(f"{key:<{width}}  {_rate(pair['passed']):<36}  {_rate(pair['rejected'])}")
    return lines


def _agreement_line(entry: Mapping[str, Any]) -> str:
    if entry["kind"] is None:
        return "Agreement: no row has 2 reviewers"
    name = "Cohen's" if entry["kind"] == "cohen" else "Fleiss'"
    kappa = "undefined (every answer the same)" if entry["kappa"] is None else f"{entry['kappa']:.3f}"
    return f"Agreement: {name} kappa {kappa} over {entry['rows']} rows, {entry['reviewers']} reviewers"


def _threshold_line(score: str, entry: Mapping[str, Any], target: float) -> str:
    if entry["threshold"] is not None:
        return (f"  {score} {entry['test']} {entry['threshold']:g} keeps {_percent(entry['share'])} of edits at "
                f"{_rate(entry)}")
    if entry["best_rate"] is None:
        return f"  {score}: no reviewed row"
    return (f"  {score}: no threshold reaches {_percent(target)} (best {_percent(entry['best_rate'])} at "
            f"{entry['test']} {entry['best_threshold']:g})")


def _single_row_note(summary: Mapping[str, Any]) -> list[str]:
    counts = {qc: summary[qc]["strata_without_variance"] for qc in ("passed", "rejected") if summary[qc]}
    if not any(counts.values()):
        return []
    listed = ", ".join(f"{qc} {count}" for qc, count in counts.items())
    return [f"  (strata with a single reviewed row add no variance, so the intervals are too narrow: {listed})"]


def render_text(summary: Mapping[str, Any]) -> str:
    """A readable report of `summarize`'s dict, for the command line."""
    answers = ", ".join(f"{answer} {count}" for answer, count in summary["answers"].items())
    reviewers = ", ".join(summary["reviewers"]) or "none"
    calibration = summary["calibration"]
    lines = [
        f"Review: {summary['reviewed_rows']} of {summary['population']} edits reviewed, {summary['verdicts']} "
        f"verdicts by {len(summary['reviewers'])} reviewers ({reviewers}); answers: {answers}",
        "",
        "Label kept (same class, clearly), stratified estimate with 95% interval:",
        f"  passed QC:   {_rate(summary['passed'])}",
        f"  rejected QC: {_rate(summary['rejected'])}",
        *_single_row_note(summary),
        "",
        *_table("domain", summary["by_domain"]),
        "",
        *_table("severity", summary["by_severity"]),
        "",
        _agreement_line(summary["agreement"]),
        "",
        f"QC thresholds keeping the label at {_percent(calibration['target'])} or more (loosest):",
        *(_threshold_line(score, entry, calibration["target"]) for score, entry in calibration["scores"].items()),
        "",
        f"Coverage: the reviewed strata hold {_percent(summary['coverage'])} of the edits "
        "(unreviewed strata are left out of every estimate)",
    ]
    return "\n".join(lines) + "\n"
