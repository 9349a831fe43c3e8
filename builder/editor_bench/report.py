"""The editor bench's figures with their intervals, its Markdown tables and its contact sheet."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageDraw

from builder.editor_bench.measure import EDIT_KINDS, NOOP, Truth, summarise
from builder.editor_bench.run import EditorRun
from builder.micro import benchmark, world

KIND_TITLES = {"colour": "Colour edits (the object's colour swapped; kept: the background)",
               "background": "Background edits (the background swapped; kept: the object)"}
KEPT = {"colour": "background", "background": "object"}


def editor_figures(run: EditorRun, seed: int) -> dict[str, Any]:
    """One editor's figures: per edit kind and severity, the no-op edits' reconstruction per severity, its cost."""
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for record in run.records:
        grouped.setdefault(record["kind"], {}).setdefault(str(record["severity"]), []).append(record)
    figures = {kind: {level: summarise(records, seed) for level, records in sorted(grouped[kind].items())}
               for kind in EDIT_KINDS if kind in grouped}
    reconstruction = {level: summarise(records, seed)["psnr"] for level, records in sorted(grouped[NOOP].items())}
    return {"figures": figures, "reconstruction": reconstruction, "cost": run.cost, "metadata": run.metadata,
            "environment": run.environment}


def _rate(estimate: dict[str, float]) -> str:
    return f"{100 * estimate['value']:.0f}% [{100 * estimate['ci_low']:.0f}, {100 * estimate['ci_high']:.0f}]"


def _mean(estimate: dict[str, float], digits: int) -> str:
    return f"{estimate['value']:.{digits}f} [{estimate['ci_low']:.{digits}f}, {estimate['ci_high']:.{digits}f}]"


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: a table per edit kind, the reconstruction and the cost."""
    settings, editors = report["settings"], report["editors"]
    first, last = report["scene_seeds"][0], report["scene_seeds"][-1]
    lines = [
        "# Editor bench: the micro world", "",
        f"`{report['command']}`, {report['environment']['date']}: {settings['scenes']} held-out scenes of the micro "
        f"world (seeds {first:,} to {last:,}) edited by each editor on the shipped micro model ({report['model']}) "
        f"at {world.SIZE} px and {settings['steps']} DDIM steps, {report['environment']['device']}, float32; read by "
        "the micro classifier and compared with the scenes' true masks. Brackets: 95% intervals (Wilson for "
        "shares, bootstrap over scenes for means). PSNR is capped at 60 dB (identical pixels).", ""]
    for kind in EDIT_KINDS:
        kept = KEPT[kind]
        lines += [f"## {KIND_TITLES[kind]}", "",
                  f"| editor | severity | target reached | target object | label kept | mask IoU | {kept} PSNR (dB) "
                  f"| {kept} change (/255) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for label, editor in editors.items():
            for level, f in editor["figures"].get(kind, {}).items():
                lines.append(f"| {label} | {level} | {_rate(f['as_target'])} | {_rate(f['object_as_target'])} | "
                             f"{_rate(f['label_kept'])} | {_mean(f['iou'], 2)} | {_mean(f['kept_psnr'], 1)} | "
                             f"{_mean(f['kept_change'], 1)} |")
        lines.append("")
    levels = [str(level) for level in settings["severities"]]
    lines += ["## Reconstruction (no-op edit: the source caption as target), PSNR (dB) of the whole image", "",
              "| editor | " + " | ".join(f"severity {level}" for level in levels) + " |",
              "| --- |" + " --- |" * len(levels)]
    lines += [f"| {label} | " + " | ".join(_mean(editor["reconstruction"][level], 1) for level in levels) + " |"
              for label, editor in editors.items()]
    lines += ["", "## Cost per edit (no-op edits included; inversion included)", "",
              "| editor | seconds | UNet rows | backward rows | forward-equivalents (a backward row = 2) |",
              "| --- | --- | --- | --- | --- |"]
    lines += [f"| {label} | {c['seconds_per_edit']:.3f} | {c['unet_rows_per_edit']:.1f} | "
              f"{c['backward_rows_per_edit']:.1f} | {c['forward_equivalents_per_edit']:.1f} |"
              for label, c in ((label, editor["cost"]) for label, editor in editors.items())]
    return "\n".join(lines) + "\n"


def contact_sheet(truths: Sequence[Truth], runs: Sequence[EditorRun], zoom: int = 2) -> bytes:
    """PNG: per sheet scene and edit kind, the original and each editor's edit (at the sheet's severity), over the
    target caption."""
    side, pad, header, caption = world.SIZE * zoom, 4, 28, 14
    count = min(len(truths), *(len(run.sheet.get(kind, [])) for run in runs for kind in EDIT_KINDS))
    columns = 1 + len(runs)
    width = pad + columns * (side + pad)
    height = header + count * len(EDIT_KINDS) * (side + caption + pad) + pad
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    titles = ["original", *(run.spec.label.replace("+", "\n+") for run in runs)]
    for c, title in enumerate(titles):
        draw.multiline_text((pad + c * (side + pad), 2), title, fill="black", spacing=1)
    y = header
    for index in range(count):
        truth = truths[index]
        for kind in EDIT_KINDS:
            tiles = [truth.image, *(run.sheet[kind][index] for run in runs)]
            for c, image in enumerate(tiles):
                sheet.paste(image.resize((side, side), Image.Resampling.NEAREST), (pad + c * (side + pad), y))
            target = benchmark.edited_scene(truth.scene, kind).caption
            draw.text((pad, y + side + 1), f"-> {target}", fill="black")
            y += side + caption + pad
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
