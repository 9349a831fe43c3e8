"""The leaderboard as people and programs read it: markdown (a table per config and section, the Hub's own
leaderboards, the refused and superseded files), CSV (one line per ranked result) and JSON.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from imagenet_textcorrupt.estimate import MISSING, format_estimate
from imagenet_textcorrupt.leaderboard.board import ESTIMATES, Board
from imagenet_textcorrupt.provenance import utc_timestamp
from imagenet_textcorrupt.report import markdown_table
from imagenet_textcorrupt.schema import DEFAULT_CONFIG

_HEADER = ["#", "model", "family", "params (M)", "edited top-1", "clean top-1", "drop", "rel. robustness",
           "flip rate", "top-1, config classes", "checked", "audited"]


def audit_cell(audit: dict[str, Any] | None) -> str:
    """A row's audit for people: `✓ 200 rows, seed 42`, or `–` (not audited; the reason is in the JSON)."""
    if audit and audit.get("status") == "audited":
        return f"✓ {audit['rows']} rows, seed {audit['seed']}"
    return MISSING


def _markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    cells = [[row["rank"], row["model"], row["family"],
              f"{row['parameters'] / 1e6:.1f}" if row.get("parameters") else MISSING,
              *(format_estimate(row[name]) for name in ESTIMATES), "✓" if row["verified"] else MISSING,
              audit_cell(row.get("audit"))] for row in rows]
    return markdown_table(_HEADER, cells, align="rllrrrrrrrcl").splitlines()


def to_markdown(board: Board) -> str:
    lines = ["# ImageNet-TC leaderboard", ""]
    if len(board.sections) > 1:
        lines += ["Results on different dataset revisions or metrics versions are not comparable: each has its own "
                  "section below.", ""]
    for section in board.sections:
        lines += [f"## {section['dataset']} @ {section['revision']} · metrics {section['metrics_version']}", ""]
        lines += ["### Overall (config all)", ""]
        lines += _markdown_table(section["overall"]) if section["overall"] else \
            ["No results on config `all` yet: the per-config tables below are not an overall ranking."]
        lines.append("")
        for config, rows in section["configs"].items():
            if config == DEFAULT_CONFIG:
                continue
            lines += [f"### Config {config}", ""] + _markdown_table(rows) + [""]
    for ranked in board.hub:
        task = f"task `{ranked['task']}`" if ranked.get("task") else "the first task of its eval.yaml"
        lines += [f"## The Hub's leaderboard of {ranked['dataset']}: {task}", "",
                  f"As the Hub ranks the models' `.eval_results` entries for {task} (edited top-1 accuracy in %; the "
                  "Hub's API ranks only the first task of eval.yaml), fine-tuned models included. These entries "
                  "carry no predictions, so nothing here was recomputed; the Hub's own *verified* flag is shown.", ""]
        cells = [[e["rank"], e["model"], e["value"], "✓" if e["verified"] else MISSING, e["source"] or MISSING,
                  e["notes"] or MISSING] for e in ranked["entries"]]
        lines += markdown_table(["#", "model", "value", "verified", "source", "notes"], cells, align="rlrcll"
                                ).splitlines()
        lines += ["" if ranked["entries"] else "No entries yet.", ""]
    if not board.sections and not board.hub:
        lines += ["No accepted results.", ""]
    if board.refused:
        lines += ["## Refused", ""] + [f"- `{r['file']}`: {'; '.join(r['problems'])}" for r in board.refused] + [""]
    if board.superseded:
        lines += ["## Superseded by a newer result of the same model and config", ""]
        lines += [f"- `{s['file']}` (by `{s['by']}`)" for s in board.superseded] + [""]
    lines += ["Accuracies in %, with 95% bootstrap intervals over source images. Ranked by edited top-1 accuracy "
              "(ties share a rank). Drop is clean minus edited top-1 on the same source images. *Checked* means the "
              "metrics were recomputed from the submitted predictions and matched (`–`: no predictions file, or "
              "another metrics version). *Audited* means the model was rerun on that many rows, drawn with a seed the "
              "submitter could not know, and gave the submitted top-1 on every one (docs: what an audit promises). "
              "See report.md for the breakdown "
              "by domain, severity and group, and the plots.", ""]
    return "\n".join(lines)


def to_csv(board: Board) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["dataset", "revision", "metrics_version", "config", "rank", "model", "family", "parameters"]
    for name in ESTIMATES:
        header += [name, f"{name}_ci_low", f"{name}_ci_high"]
    writer.writerow(header + ["verified", "audit_status", "audit_rows", "audit_seed", "created", "file"])
    for section in board.sections:
        for config, rows in section["configs"].items():
            for row in rows:
                values = [section["dataset"], section["revision"], section["metrics_version"], config, row["rank"],
                          row["model"], row["family"], row["parameters"]]
                for name in ESTIMATES:
                    est = row[name] or {}
                    values += [est.get("value"), est.get("ci_low"), est.get("ci_high")]
                audit = row.get("audit") or {}
                writer.writerow(values + [row["verified"], audit.get("status"), audit.get("rows"), audit.get("seed"),
                                          row["created"], row["file"]])
    return buffer.getvalue()


def to_json(board: Board) -> dict[str, Any]:
    return {"generated": utc_timestamp(),
            "sections": board.sections, "refused": board.refused, "superseded": board.superseded,
            "hub": board.hub}
