"""The ImageNet-TC leaderboard Space: the tables `imagenet-tc leaderboard --verified-only --publish` wrote, browsable.

It reads leaderboard.json and the report's plots from the results repository's leaderboard/ folder
(LEADERBOARD_REPO) or from a local folder (LEADERBOARD_DIR), and recomputes nothing: one table per config of one
section (dataset, revision, metrics version), filterable by family and by a search in the model names, each
figure beside its 95% interval, each model linked to its Hub page where it has one, each row's audit status (a rerun
of the model on a random sample of rows, `imagenet-tc leaderboard --audit N`); the refused results with their
reasons, an audit's among them; the Hub's own leaderboard of the benchmark once it is listed; a tab on the metrics,
on what an audit promises and on submitting. **Refresh** downloads the latest published files.

Run locally with `LEADERBOARD_DIR=board python app.py`: gradio binds 127.0.0.1 (port 7860, or GRADIO_SERVER_PORT)
unless GRADIO_SERVER_NAME says otherwise, as the Spaces runtime does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import gradio as gr

REPO = os.environ.get("LEADERBOARD_REPO", "<org>/imagenet-tc-results")
FOLDER = "leaderboard"  # where `imagenet-tc leaderboard --publish` uploads
# (column header, the figure of a leaderboard.json row), each shown in % beside its 95% interval
FIGURES = (("edited top-1", "edited_top1"), ("clean top-1", "clean_top1"), ("drop", "drop"),
           ("relative robustness", "relative_robustness"), ("flip rate", "flip_rate"),
           ("top-1, config classes", "edited_top1_config"))
# A header breaks between words only: a word joiner (U+2060) after each hyphen keeps "top-1" whole
HEADERS = [h.replace("-", "-\u2060") for h in ["#", "model", "family", "params (M)", "audit"]
           + [h for name, _ in FIGURES for h in (name, f"{name} 95% CI")]]
AUDIT_WIDTH = "280px"  # the audit column, whose reasons wrap (between words) rather than widen the table
COLUMN_WIDTHS = ["auto"] * 4 + [AUDIT_WIDTH] + ["auto"] * 2 * len(FIGURES)
DATATYPES = ["number", "markdown", "str", "number", "str"] + ["number", "str"] * len(FIGURES)
# The page's own rules, which gradio 6 takes in launch(): the plots are shown whole (the gallery's thumbnails are
# squares that crop them, object-fit cover), each at its own aspect ratio and with its caption below it rather than
# over it, and the gallery grows with them instead of scrolling inside 55% of the window; the table's headers break
# between words only (gradio's break-word let the column-width measurement squeeze "clean top-1" to a letter or
# two per line: with it gone, a header's narrowest width is its longest word).
CSS = """
#plots .grid-wrap { max-height: none; overflow-y: visible; }
#plots .grid-container { grid-template-rows: none; grid-auto-rows: auto; align-items: start; }
#plots .thumbnail-lg { aspect-ratio: auto; height: auto; display: flex; flex-direction: column; }
#plots .thumbnail-lg > img { width: 100%; height: auto; object-fit: contain; }
#plots .thumbnail-lg .caption-label { position: static; max-width: 100%; border: none; border-radius: 0;
  text-align: center; }
#board .header-cell .header { word-break: normal; overflow-wrap: normal; }
"""
ABOUT = """
## The metrics
Every edit is scored against **its own clean image** (the original row with the same `source_id`), so a domain
that covers some classes is compared with the clean accuracy of those same images.

- **edited top-1**: accuracy (%) on the config's edited images, 1000-way. The table is ranked by it; ties share a
  rank.
- **clean top-1**: accuracy on the clean originals of those edits. **drop** = clean - edited, paired per image.
- **relative robustness** = edited / clean; **flip rate**: the share of edits whose top-1 differs from the
  prediction on their original.
- **top-1, config classes**: edited accuracy with the logits of classes outside the config masked.
- Intervals are 95% percentile bootstrap intervals that resample source images, so all edits of one image move
  together. Results on different dataset revisions or metrics versions are never ranked together.

## Submitting
1. Score your model on a tagged release: `imagenet-tc evaluate --model timm:NAME --dataset ORG/imagenet-tc
   --revision v1.0.0 --config all --out results/` (also `hf:ID`, `open_clip:ARCH/TAG` zero-shot, or a local folder).
2. Submit the results with their predictions: `imagenet-tc submit results/... --results-repo
   ORG/imagenet-tc-results` (a pull request to the results dataset).
3. Once merged, the next rebuild (`imagenet-tc leaderboard ORG/imagenet-tc-results --verified-only --publish`)
   recomputes your metrics from the predictions; only results that match are ranked, the others are listed under
   *Refused* with the reason.

## Audits
A ranked row marked **✓ audited (N rows, seed S)** was rerun: `imagenet-tc leaderboard --audit N` ran the
submitted model on a random stratified sample of N rows, drawn with a seed the submitter could not know when
submitting, and its top-1 equalled the submitted prediction on every sampled row, except rows whose two largest
logits were within a tolerance of each other (where the hardware and numerics may flip a tie). 200 rows catch a
submission that forged 2% of its predictions with probability at least 98% (1 - 0.98^200). Each audit's record
(the rows drawn, the seed, the agreement) is published under `audits/` beside leaderboard.json.

What an audit does not promise: it does not prove the rows it did not sample, a model that behaves differently
on other hardware may pass here and differ there (or the reverse), and it says nothing about the training data
(a model trained on ImageNet-TC's images, or their sources, is not caught by it). **not audited** rows were not
rerun (the reason follows: not audited yet, or unauditable, e.g. the checkpoint's sha256 differs from the
submitted one); their metrics are still recomputed from their predictions. A result whose rerun disagrees is not
ranked: it is listed under *Refused results* with the disagreeing rows.
"""


def _download() -> Path:
    """The folder holding leaderboard.json and the plots: LEADERBOARD_DIR, or the results repo's leaderboard/."""
    local = os.environ.get("LEADERBOARD_DIR")
    if local:
        return Path(local)
    from huggingface_hub import snapshot_download

    root = snapshot_download(REPO, repo_type="dataset", allow_patterns=[f"{FOLDER}/*"], token=os.environ.get(
        "HF_TOKEN"))
    return Path(root) / FOLDER


def load_board() -> tuple[dict[str, Any], list[Any], str]:
    """(leaderboard.json, its plots as (picture, caption), a status line). The plots are opened here: gradio serves
    pictures it was handed, never a path outside its own folders."""
    from PIL import Image

    try:
        folder = _download()
        board = json.loads((folder / "leaderboard.json").read_text(encoding="utf-8"))
    except Exception as error:  # noqa: BLE001 - shown on the page, which keeps serving
        return {"sections": [], "refused": [], "hub": []}, [], f"Could not read the leaderboard: {error}"
    plots = [(Image.open(p).convert("RGB"), p.stem.replace("_", " ")) for p in sorted(folder.glob("*.png"))]
    return board, plots, f"Leaderboard generated {board.get('generated', '?')}."


def section_names(board: dict[str, Any]) -> list[str]:
    return [f"{s['dataset']} @ {s['revision'][:12]} · metrics {s['metrics_version']}" for s in board["sections"]]


def _percent(estimate: dict[str, Any] | None) -> tuple[float | None, str]:
    if not estimate or estimate.get("value") is None:
        return None, "–"
    low, high = estimate.get("ci_low"), estimate.get("ci_high")
    interval = f"[{100 * low:.1f}, {100 * high:.1f}]" if low is not None and high is not None else "–"
    return round(100 * estimate["value"], 2), interval


def audit_text(audit: dict[str, Any] | None) -> str:
    """A row's audit cell: "✓ audited (200 rows, seed 123)" or "not audited: <reason>"; a row of an older
    leaderboard.json, without an audit, reads "not audited"."""
    status = (audit or {}).get("status")
    reason = (audit or {}).get("reason")
    if status == "audited":
        rows, seed = audit.get("rows"), audit.get("seed")
        details = ", ".join(part for part in (f"{rows} rows" if rows is not None else "",
                                              f"seed {seed}" if seed is not None else "") if part)
        return f"✓ audited ({details})" if details else "✓ audited"
    if status == "refused":  # not ranked by contract; said plainly should one slip into a table
        return f"✗ refused by its audit: {reason}" if reason else "✗ refused by its audit"
    if status not in (None, "unaudited"):
        reason = f"unknown audit status {status!r}"
    if not reason:
        return "not audited"
    return reason if reason.lower().startswith("not audited") else f"not audited: {reason}"


def table_rows(rows: list[dict[str, Any]], families: list[str] | None, search: str) -> list[list[Any]]:
    """The displayed rows of one config's ranking: kept in rank order, filtered by family and model name."""
    shown = []
    needle = search.strip().lower()
    for row in rows:
        if families is not None and row["family"] not in families:
            continue
        if needle and needle not in row["model"].lower():
            continue
        name = f"[{row['model']}]({row['url']})" if row.get("url") else row["model"]
        params = round(row["parameters"] / 1e6, 1) if row.get("parameters") else None
        cells: list[Any] = [row["rank"], name, row["family"], params, audit_text(row.get("audit"))]
        for _, key in FIGURES:
            cells += list(_percent(row.get(key)))
        shown.append(cells)
    return shown


def _audit_refusal(audit: dict[str, Any] | None) -> str:
    """What a refused result's audit found, or "" when its audit did not refuse it."""
    if not audit or audit.get("status") != "refused":
        return ""
    parts = []
    if audit.get("disagreements") is not None:
        rows = f" of {audit['rows']}" if audit.get("rows") is not None else ""
        parts.append(f"{audit['disagreements']}{rows} sampled rows disagree with the submitted predictions")
    elif audit.get("rows") is not None:
        parts.append(f"{audit['rows']} rows rerun")
    if audit.get("seed") is not None:
        parts.append(f"seed {audit['seed']}")
    if audit.get("agreement") is not None:
        parts.append(f"agreement {100 * audit['agreement']:.1f}%")
    if audit.get("reason"):
        parts.append(str(audit["reason"]))
    if audit.get("record"):
        parts.append(f"record `{audit['record']}`")
    return "refused by its audit" + (f" ({'; '.join(parts)})" if parts else "")


def refused_markdown(board: dict[str, Any]) -> str:
    """The refused results, each with its problems (an audit's disagreeing rows among them)."""
    if not board.get("refused"):
        return "No refused results."
    lines = []
    for refused in board["refused"]:
        audit = _audit_refusal(refused.get("audit"))
        lines.append(f"- `{refused['file']}`" + (f": {audit}" if audit else ""))
        lines += [f"    - {problem}" for problem in refused.get("problems", [])]
    return "\n".join(lines)


def hub_markdown(board: dict[str, Any]) -> str:
    parts = []
    for ranked in board.get("hub", []):
        task = f"task `{ranked['task']}`" if ranked.get("task") else "the first task of its eval.yaml"
        lines = [f"### The Hub's leaderboard of {ranked['dataset']}: {task}", "",
                 "As the Hub ranks the models' `.eval_results` entries (fine-tunes included); not recomputed here.",
                 "", "| # | model | value | verified |", "|---:|---|---:|:---:|"]
        lines += [f"| {e['rank']} | [{e['model']}](https://huggingface.co/{e['model']}) | {e['value']} | "
                  f"{'✓' if e['verified'] else '–'} |" for e in ranked["entries"]]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) or "The benchmark is not listed on the Hub's leaderboards yet."


def build() -> gr.Blocks:
    with gr.Blocks(title="ImageNet-TC leaderboard") as demo:
        board_state = gr.State()
        gr.Markdown("# ImageNet-TC leaderboard\nImage classifiers on text-guided corruptions of ImageNet "
                    "validation images. Accuracies in %, with 95% bootstrap intervals over source images.")
        with gr.Tab("Leaderboard"):
            status = gr.Markdown(elem_id="status")
            with gr.Row():
                section = gr.Dropdown(label="dataset revision", elem_id="section", scale=3)
                config = gr.Dropdown(label="config", elem_id="config", scale=1)
                refresh = gr.Button("Refresh", elem_id="refresh", scale=0)
            with gr.Row():
                search = gr.Textbox(label="search models", placeholder="e.g. resnet", elem_id="search")
                families = gr.CheckboxGroup(label="families", elem_id="families")
            table = gr.Dataframe(headers=HEADERS, datatype=DATATYPES, interactive=False, elem_id="board",
                                 wrap=True, column_widths=COLUMN_WIDTHS)
            gr.Markdown("**audit**: ✓ audited rows were rerun on a random sample of rows and agreed with their "
                        "submitted predictions; see *About* for what that does and does not promise.",
                        elem_id="audit-note")
            plots = gr.Gallery(label="The report's plots", columns=2, height="auto", object_fit="contain",
                               elem_id="plots")
            with gr.Accordion("Refused results", open=False):
                refused = gr.Markdown(elem_id="refused")
            hub = gr.Markdown(elem_id="hub")
        with gr.Tab("About"):
            gr.Markdown(ABOUT, elem_id="about")

        def current_rows(board: dict[str, Any], section_name: str | None, config_name: str | None) -> list[dict]:
            names = section_names(board)
            if not names or section_name not in names or config_name is None:
                return []
            return board["sections"][names.index(section_name)]["configs"].get(config_name, [])

        def on_load():
            board, pictures, line = load_board()
            names = section_names(board)
            configs = list(board["sections"][0]["configs"]) if names else []
            config_name = configs[0] if configs else None
            rows = current_rows(board, names[0] if names else None, config_name)
            family_names = sorted({r["family"] for s in board["sections"] for c in s["configs"].values() for r in c})
            return (board, line, gr.Dropdown(choices=names, value=names[0] if names else None),
                    gr.Dropdown(choices=configs, value=config_name),
                    gr.CheckboxGroup(choices=family_names, value=family_names),
                    table_rows(rows, None, ""), pictures, refused_markdown(board), hub_markdown(board))

        def on_section(board, section_name):
            names = section_names(board)
            configs = list(board["sections"][names.index(section_name)]["configs"]) if section_name in names else []
            return gr.Dropdown(choices=configs, value=configs[0] if configs else None)

        def on_filter(board, section_name, config_name, family_names, needle):
            return table_rows(current_rows(board, section_name, config_name), family_names, needle or "")

        outputs = [board_state, status, section, config, families, table, plots, refused, hub]
        demo.load(on_load, outputs=outputs, api_name=False)
        refresh.click(on_load, outputs=outputs, api_name="refresh")
        section.change(on_section, [board_state, section], config, api_name=False)
        for control in (config, families, search):
            control.change(on_filter, [board_state, section, config, families, search], table, api_name=False)
    return demo


demo = build()

if __name__ == "__main__":
    demo.launch(css=CSS)
